// What registry_bench measures: each scenario puts the data its calls need
// into the target, then makes the measured calls, through either API.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "bench/load_driver.h"
#include "discovery_service.grpc.pb.h"
#include "registry/v1/registry.grpc.pb.h"
#include "registry_service.grpc.pb.h"

namespace registryd::bench {

enum class Api { kNative, kSeed };

struct ScenarioOptions {
  Api api = Api::kNative;
  int leases = 10'000;              // heartbeat, register
  int services = 10;                // discover, find
  int instances_per_service = 100;  // discover, find
  int setup_concurrency = 64;
};

// Connections to one target: `channels` separate TCP connections, with the
// stubs of both APIs on each.
class Connections {
 public:
  Connections(const std::string& address, int channels);

  size_t size() const { return native_.size(); }
  registry::v1::Registry::Stub& native(uint64_t sequence) { return *native_[sequence % native_.size()]; }
  registry_service::RegistryService::Stub& seed_registry(uint64_t sequence) {
    return *seed_registry_[sequence % seed_registry_.size()];
  }
  discovery_service::DiscoveryService::Stub& seed_discovery(uint64_t sequence) {
    return *seed_discovery_[sequence % seed_discovery_.size()];
  }
  // True once every channel is connected (waits up to 30 s).
  bool WaitConnected();

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<registry::v1::Registry::Stub>> native_;
  std::vector<std::unique_ptr<registry_service::RegistryService::Stub>> seed_registry_;
  std::vector<std::unique_ptr<discovery_service::DiscoveryService::Stub>> seed_discovery_;
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  // Registers what the measured calls need; returns false on errors.
  virtual bool Setup(Connections& connections) = 0;
  virtual CallFactory Calls(Connections& connections) = 0;
};

// "heartbeat", "register", "discover" or "find"; nullptr for an unknown name
// or a scenario the API does not have (find is the seed's).
std::unique_ptr<Scenario> MakeScenario(const std::string& name, const ScenarioOptions& options);

}  // namespace registryd::bench
