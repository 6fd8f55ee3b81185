// A real registryd server on an ephemeral loopback port, for integration
// tests, and the helpers they share.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "core/clock.h"
#include "discovery_service.grpc.pb.h"
#include "registry/v1/registry.grpc.pb.h"
#include "registry_service.grpc.pb.h"
#include "server/server.h"

namespace registryd::testing {

// Options for a test server: 127.0.0.1:0, two queue threads, 60 s leases.
ServerOptions TestServerOptions();

class TestServer {
 public:
  explicit TestServer(const ServerOptions& options = TestServerOptions());
  ~TestServer();

  Server& server() { return server_; }
  std::shared_ptr<grpc::Channel> NewChannel() const;

  // Stubs on one shared channel.
  registry_service::RegistryService::Stub& seed_registry() { return *seed_registry_; }
  discovery_service::DiscoveryService::Stub& seed_discovery() { return *seed_discovery_; }
  registry::v1::Registry::Stub& native() { return *native_; }

 private:
  SteadyClock clock_;
  Server server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<registry_service::RegistryService::Stub> seed_registry_;
  std::unique_ptr<discovery_service::DiscoveryService::Stub> seed_discovery_;
  std::unique_ptr<registry::v1::Registry::Stub> native_;
};

// A client context with a generous deadline, so a broken server fails the
// test instead of hanging it.
std::unique_ptr<grpc::ClientContext> Context();

// Registers `instance_id` of `service` at 127.0.0.1:9000 through the native
// API, with `metadata` if any; the call must succeed. Returns the lease id.
uint64_t RegisterInstance(registry::v1::Registry::Stub& stub, const std::string& service,
                          const std::string& instance_id, uint32_t ttl_ms = 60'000,
                          const std::map<std::string, std::string>& metadata = {});

// Polls `condition` until it holds or `timeout` passes; returns its last
// value. For conditions that depend on real time (expiry through the alarm
// path); the tests never assert how long anything took.
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace registryd::testing
