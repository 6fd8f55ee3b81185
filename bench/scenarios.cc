#include "bench/scenarios.h"

#include <deque>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

namespace registryd::bench {
namespace {

constexpr auto kBenchTtlMs = 600'000;  // leases outlive any run

std::string ServiceName(int index) { return "bench-" + std::to_string(index); }

// Runs `calls` calls of `factory` to completion; true when all succeeded.
bool RunSetup(const CallFactory& factory, uint64_t calls, int concurrency) {
  if (calls == 0) return true;
  LoadOptions options;
  options.concurrency = concurrency;
  options.max_calls = calls;
  options.duration = std::chrono::hours(1);
  const LoadResult result = RunLoad(factory, options);
  return result.errors.empty() && result.calls == calls;
}

// A native registration whose lease id is kept in `leases[index]`.
class RegisterCall : public PendingUnary<registry::v1::RegisterResponse> {
 public:
  RegisterCall(std::vector<uint64_t>& leases, size_t index) : leases_(leases), index_(index) {}
  void OnSuccess() override { leases_[index_] = reply.lease_id(); }

 private:
  std::vector<uint64_t>& leases_;
  size_t index_;
};

std::unique_ptr<PendingCall> StartNativeRegister(Connections& connections, uint64_t sequence,
                                                 grpc::CompletionQueue* cq, const std::string& service,
                                                 int instance, std::vector<uint64_t>& leases,
                                                 size_t lease_index) {
  auto call = std::make_unique<RegisterCall>(leases, lease_index);
  registry::v1::RegisterRequest request;
  request.set_service(service);
  request.set_instance_id("instance-" + std::to_string(instance));
  request.set_address("10.0.0.1:" + std::to_string(1000 + instance % 60000));
  request.set_ttl_ms(kBenchTtlMs);
  call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
    return connections.native(sequence).AsyncRegister(context, request, queue);
  }, cq);
  return call;
}

std::unique_ptr<PendingCall> StartSeedRegister(Connections& connections, uint64_t sequence,
                                               grpc::CompletionQueue* cq, const std::string& service,
                                               int server_id) {
  auto call = std::make_unique<PendingUnary<registry_service::QueryReply>>();
  registry_service::RecordRequest request;
  request.set_serverid(server_id);
  request.set_serverip("10.0.0.1");
  request.set_serverport(1000 + server_id % 60000);
  request.set_service(service);
  call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
    return connections.seed_registry(sequence).Asyncdiscovery(context, request, queue);
  }, cq);
  return call;
}

// N leases registered first, then heartbeats round-robin over them.
class HeartbeatScenario final : public Scenario {
 public:
  explicit HeartbeatScenario(const ScenarioOptions& options) : options_(options), leases_(options.leases) {}

  bool Setup(Connections& connections) override {
    return RunSetup(
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          const int i = static_cast<int>(sequence);
          const std::string service = ServiceName(i % 100);
          return options_.api == Api::kNative
                     ? StartNativeRegister(connections, sequence, cq, service, i, leases_, sequence)
                     : StartSeedRegister(connections, sequence, cq, service, i);
        },
        static_cast<uint64_t>(options_.leases), options_.setup_concurrency);
  }

  CallFactory Calls(Connections& connections) override {
    return [&](uint64_t sequence, grpc::CompletionQueue* cq) -> std::unique_ptr<PendingCall> {
      const size_t index = sequence % leases_.size();
      if (options_.api == Api::kNative) {
        auto call = std::make_unique<PendingUnary<registry::v1::HeartbeatResponse>>();
        registry::v1::HeartbeatRequest request;
        request.set_lease_id(leases_[index]);
        call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
          return connections.native(sequence).AsyncHeartbeat(context, request, queue);
        }, cq);
        return call;
      }
      auto call = std::make_unique<PendingUnary<registry_service::QueryReply>>();
      registry_service::RenewRequest request;
      request.set_serverid(static_cast<int32_t>(index));
      call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
        return connections.seed_registry(sequence).AsyncheartBeat(context, request, queue);
      }, cq);
      return call;
    };
  }

 private:
  ScenarioOptions options_;
  std::vector<uint64_t> leases_;
};

// Register churn with distinct instances. Native: each call registers a new
// instance or deregisters the oldest of the last `leases` ones. Seed (which
// has no deregistration): registrations of `leases` serverIds in turn, each
// pass under another service, so every call moves a server (a removal and an
// addition).
class RegisterScenario final : public Scenario {
 public:
  explicit RegisterScenario(const ScenarioOptions& options) : options_(options) {}

  bool Setup(Connections&) override { return true; }

  CallFactory Calls(Connections& connections) override {
    return [&](uint64_t sequence, grpc::CompletionQueue* cq) -> std::unique_ptr<PendingCall> {
      const int instance = static_cast<int>(sequence & 0x7fffffff);
      if (options_.api == Api::kSeed) {
        const auto leases = static_cast<uint64_t>(options_.leases);
        const auto server_id = static_cast<int>(sequence % leases);
        const std::string service = ServiceName(static_cast<int>(sequence / leases % 100));
        return StartSeedRegister(connections, sequence, cq, service, server_id);
      }
      if (live_.size() >= static_cast<size_t>(options_.leases)) {
        auto call = std::make_unique<PendingUnary<registry::v1::DeregisterResponse>>();
        registry::v1::DeregisterRequest request;
        request.set_lease_id(live_.front());
        live_.pop_front();
        call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
          return connections.native(sequence).AsyncDeregister(context, request, queue);
        }, cq);
        return call;
      }
      auto call = std::make_unique<ChurnRegisterCall>(live_);
      registry::v1::RegisterRequest request;
      request.set_service(ServiceName(instance % 100));
      request.set_instance_id("churn-" + std::to_string(sequence));
      request.set_address("10.0.0.2:" + std::to_string(1000 + instance % 60000));
      request.set_ttl_ms(kBenchTtlMs);
      call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
        return connections.native(sequence).AsyncRegister(context, request, queue);
      }, cq);
      return call;
    };
  }

 private:
  class ChurnRegisterCall : public PendingUnary<registry::v1::RegisterResponse> {
   public:
    explicit ChurnRegisterCall(std::deque<uint64_t>& live) : live_(live) {}
    void OnSuccess() override { live_.push_back(reply.lease_id()); }

   private:
    std::deque<uint64_t>& live_;
  };

  ScenarioOptions options_;
  std::deque<uint64_t> live_;  // registered, not yet deregistered
};

// S services of k instances; then native Discover or seed findServer of the
// services in turn.
class DiscoverScenario final : public Scenario {
 public:
  explicit DiscoverScenario(const ScenarioOptions& options)
      : options_(options), leases_(static_cast<size_t>(options.services) * options.instances_per_service) {}

  bool Setup(Connections& connections) override {
    return RunSetup(
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          const int i = static_cast<int>(sequence);
          const std::string service = ServiceName(i % options_.services);
          // Instances registered through the API under test, so findServer
          // sees seed servers and Discover native ones.
          return options_.api == Api::kNative
                     ? StartNativeRegister(connections, sequence, cq, service, i, leases_, sequence)
                     : StartSeedRegister(connections, sequence, cq, service, 1'000'000 + i);
        },
        leases_.size(), options_.setup_concurrency);
  }

  CallFactory Calls(Connections& connections) override {
    return [&](uint64_t sequence, grpc::CompletionQueue* cq) -> std::unique_ptr<PendingCall> {
      const std::string service = ServiceName(static_cast<int>(sequence % options_.services));
      if (options_.api == Api::kNative) {
        auto call = std::make_unique<PendingUnary<registry::v1::DiscoverResponse>>();
        registry::v1::DiscoverRequest request;
        request.set_service(service);
        call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
          return connections.native(sequence).AsyncDiscover(context, request, queue);
        }, cq);
        return call;
      }
      auto call = std::make_unique<PendingUnary<discovery_service::QueryReply>>();
      discovery_service::QueryRequest request;
      request.set_service(service);
      call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
        return connections.seed_discovery(sequence).AsyncfindServer(context, request, queue);
      }, cq);
      return call;
    };
  }

 private:
  ScenarioOptions options_;
  std::vector<uint64_t> leases_;
};

}  // namespace

Connections::Connections(const std::string& address, int channels) {
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    arguments.SetInt("grpc.channel_id", i);
    channels_.push_back(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments));
    native_.push_back(registry::v1::Registry::NewStub(channels_.back()));
    seed_registry_.push_back(registry_service::RegistryService::NewStub(channels_.back()));
    seed_discovery_.push_back(discovery_service::DiscoveryService::NewStub(channels_.back()));
  }
}

bool Connections::WaitConnected() {
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
  for (const auto& channel : channels_) {
    if (!channel->WaitForConnected(deadline)) return false;
  }
  return true;
}

std::unique_ptr<Scenario> MakeScenario(const std::string& name, const ScenarioOptions& options) {
  if (name == "heartbeat") return std::make_unique<HeartbeatScenario>(options);
  if (name == "register") return std::make_unique<RegisterScenario>(options);
  if (name == "discover" && options.api == Api::kNative) return std::make_unique<DiscoverScenario>(options);
  if (name == "find" && options.api == Api::kSeed) return std::make_unique<DiscoverScenario>(options);
  return nullptr;
}

}  // namespace registryd::bench
