// registryd's operations through its native API and through the seed's
// contract (which the constant-reply ceiling answers too).
#include "bench/backend.h"
#include "bench/stream_pool.h"
#include "discovery_service.grpc.pb.h"
#include "registry/v1/registry.grpc.pb.h"
#include "registry_service.grpc.pb.h"

namespace registryd::bench {
namespace {

class NativeRegisterCall : public PendingUnary<registry::v1::RegisterResponse> {
 public:
  explicit NativeRegisterCall(uint64_t* lease) : lease_(lease) {}
  void OnSuccess() override { *lease_ = reply.lease_id(); }

 private:
  uint64_t* lease_;
};

std::string Address(uint64_t instance) { return "10.0.0.1:" + std::to_string(1000 + instance % 60000); }

template <typename Stub>
std::vector<std::unique_ptr<Stub>> StubsOf(const Connections& connections, std::unique_ptr<Stub> (*make)(
    const std::shared_ptr<grpc::ChannelInterface>&, const grpc::StubOptions&)) {
  std::vector<std::unique_ptr<Stub>> stubs;
  for (const auto& channel : connections.channels()) stubs.push_back(make(channel, grpc::StubOptions()));
  return stubs;
}

using KeepAlivePool = StreamPool<registry::v1::KeepAliveRequest, registry::v1::KeepAliveResponse>;
using KeepAliveExchange = StreamExchange<registry::v1::KeepAliveRequest, registry::v1::KeepAliveResponse>;

grpc::Status CheckKeepAlive(const registry::v1::KeepAliveResponse& response) {
  if (response.code() == 0) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(response.code()), response.message());
}

class NativeBackend final : public Backend {
 public:
  explicit NativeBackend(const Connections& connections)
      : stubs_(StubsOf<registry::v1::Registry::Stub>(connections, &registry::v1::Registry::NewStub)),
        keep_alive_([this](grpc::ClientContext* context, grpc::CompletionQueue* cq, uint64_t sequence) {
          return Stub(sequence).PrepareAsyncKeepAlive(context, cq);
        }) {
    for (const auto& channel : connections.channels()) generic_.push_back(std::make_unique<grpc::GenericStub>(channel));
  }

  std::unique_ptr<PendingCall> StartRegister(uint64_t sequence, grpc::CompletionQueue* cq,
                                             const Registration& registration, uint64_t* lease) override {
    auto call = std::make_unique<NativeRegisterCall>(lease);
    registry::v1::RegisterRequest request;
    request.set_service(registration.service);
    request.set_instance_id("instance-" + std::to_string(registration.instance));
    request.set_address(Address(registration.instance));
    request.set_ttl_ms(registration.ttl_ms);
    call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
      return Stub(sequence).AsyncRegister(context, request, queue);
    }, cq);
    return call;
  }

  std::unique_ptr<PendingCall> StartHeartbeat(uint64_t sequence, grpc::CompletionQueue* cq, uint64_t lease) override {
    auto call = std::make_unique<PendingUnary<registry::v1::HeartbeatResponse>>();
    registry::v1::HeartbeatRequest request;
    request.set_lease_id(lease);
    call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
      return Stub(sequence).AsyncHeartbeat(context, request, queue);
    }, cq);
    return call;
  }

  std::unique_ptr<PendingCall> StartStreamHeartbeat(uint64_t sequence, grpc::CompletionQueue* cq,
                                                    uint64_t lease) override {
    registry::v1::KeepAliveRequest request;
    request.set_lease_id(lease);
    auto call = std::make_unique<KeepAliveExchange>(keep_alive_, std::move(request), &CheckKeepAlive);
    call->Begin(cq, sequence);
    return call;
  }

  int CloseStreams(grpc::CompletionQueue* cq) override { return keep_alive_.Close(cq); }
  void set_min_streams(size_t count) override { keep_alive_.set_min_streams(count); }

  std::unique_ptr<PendingCall> StartDeregister(uint64_t sequence, grpc::CompletionQueue* cq,
                                               uint64_t lease) override {
    auto call = std::make_unique<PendingUnary<registry::v1::DeregisterResponse>>();
    registry::v1::DeregisterRequest request;
    request.set_lease_id(lease);
    call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
      return Stub(sequence).AsyncDeregister(context, request, queue);
    }, cq);
    return call;
  }

  std::unique_ptr<PendingCall> StartDiscover(uint64_t sequence, grpc::CompletionQueue* cq,
                                             const std::string& service) override {
    auto call = std::make_unique<PendingRawUnary>();
    registry::v1::DiscoverRequest request;
    request.set_service(service);
    call->Begin(*generic_[sequence % generic_.size()], "/registry.v1.Registry/Discover", request, cq);
    return call;
  }

 private:
  registry::v1::Registry::Stub& Stub(uint64_t sequence) { return *stubs_[sequence % stubs_.size()]; }

  std::vector<std::unique_ptr<registry::v1::Registry::Stub>> stubs_;
  std::vector<std::unique_ptr<grpc::GenericStub>> generic_;  // Discover, unparsed
  KeepAlivePool keep_alive_;
};

// The seed's contract: the lease handle is the serverId the client chose,
// the TTL is the server's, and there is no deregistration.
class SeedBackend final : public Backend {
 public:
  explicit SeedBackend(const Connections& connections)
      : registry_(StubsOf<registry_service::RegistryService::Stub>(connections,
                                                                    &registry_service::RegistryService::NewStub)),
        discovery_(StubsOf<discovery_service::DiscoveryService::Stub>(
            connections, &discovery_service::DiscoveryService::NewStub)) {}

  std::unique_ptr<PendingCall> StartRegister(uint64_t sequence, grpc::CompletionQueue* cq,
                                             const Registration& registration, uint64_t* lease) override {
    *lease = registration.instance;
    auto call = std::make_unique<PendingUnary<registry_service::QueryReply>>();
    registry_service::RecordRequest request;
    request.set_serverid(static_cast<int32_t>(registration.instance));
    request.set_serverip("10.0.0.1");
    request.set_serverport(static_cast<int32_t>(1000 + registration.instance % 60000));
    request.set_service(registration.service);
    call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
      return Registry(sequence).Asyncdiscovery(context, request, queue);
    }, cq);
    return call;
  }

  std::unique_ptr<PendingCall> StartHeartbeat(uint64_t sequence, grpc::CompletionQueue* cq, uint64_t lease) override {
    auto call = std::make_unique<PendingUnary<registry_service::QueryReply>>();
    registry_service::RenewRequest request;
    request.set_serverid(static_cast<int32_t>(lease));
    call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
      return Registry(sequence).AsyncheartBeat(context, request, queue);
    }, cq);
    return call;
  }

  bool CanDeregister() const override { return false; }
  std::unique_ptr<PendingCall> StartDeregister(uint64_t, grpc::CompletionQueue*, uint64_t) override {
    return nullptr;
  }

  std::unique_ptr<PendingCall> StartDiscover(uint64_t sequence, grpc::CompletionQueue* cq,
                                             const std::string& service) override {
    auto call = std::make_unique<PendingUnary<discovery_service::QueryReply>>();
    discovery_service::QueryRequest request;
    request.set_service(service);
    call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
      return discovery_[sequence % discovery_.size()]->AsyncfindServer(context, request, queue);
    }, cq);
    return call;
  }

 private:
  registry_service::RegistryService::Stub& Registry(uint64_t sequence) {
    return *registry_[sequence % registry_.size()];
  }

  std::vector<std::unique_ptr<registry_service::RegistryService::Stub>> registry_;
  std::vector<std::unique_ptr<discovery_service::DiscoveryService::Stub>> discovery_;
};

}  // namespace

std::unique_ptr<Backend> MakeRegistrydBackend(Api api, const Connections& connections) {
  if (api == Api::kSeed) return std::make_unique<SeedBackend>(connections);
  return std::make_unique<NativeBackend>(connections);
}

}  // namespace registryd::bench
