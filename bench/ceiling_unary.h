// registry_ceiling's unary calls: one reusable object per requested call,
// as in gRPC's async examples. Each method answers with a constant; the
// requests are parsed as registryd parses them (Discover's too, though its
// reply goes out as the bytes of a pre-serialized message, as registryd's
// reply cache sends them).
#pragma once

#include <optional>

#include <grpcpp/server_context.h>
#include <grpcpp/support/async_unary_call.h>
#include <grpcpp/support/byte_buffer.h>

#include "bench/ceiling_queue.h"
#include "bench/ceiling_streams.h"
#include "discovery_service.grpc.pb.h"
#include "registry/v1/registry.grpc.pb.h"
#include "registry_service.grpc.pb.h"

namespace registryd::ceiling {

using SeedRegistryService = registry_service::RegistryService::AsyncService;
using SeedDiscoveryService = discovery_service::DiscoveryService::AsyncService;

struct Canned {
  grpc::ByteBuffer discover;  // a serialized DiscoverResponse
  Broadcast& broadcast;       // what Register publishes to the Watch and ADS streams
};

// Method: Service, Request, Reply, kRequest (the service's request method),
// and Answer(canned, request, reply).
template <typename Method>
class UnaryCall final : public QueueEvent {
 public:
  UnaryCall(typename Method::Service& service, CeilingQueue& queue, Canned& canned)
      : service_(service), queue_(queue), canned_(canned) {}

  void Request() {
    finishing_ = false;
    context_.emplace();
    responder_.emplace(&*context_);
    (service_.*Method::kRequest)(&*context_, &request_, &*responder_, queue_.cq(), queue_.cq(), this);
  }

  void Proceed(bool ok) override {
    if (queue_.stopping()) return;
    if (finishing_) {
      Request();
      return;
    }
    if (!ok) return;  // the server is shutting down: no call came
    Method::Answer(canned_, request_, reply_);
    finishing_ = true;
    responder_->Finish(reply_, grpc::Status::OK, this);
  }

 private:
  typename Method::Service& service_;
  CeilingQueue& queue_;
  Canned& canned_;
  bool finishing_ = false;
  std::optional<grpc::ServerContext> context_;
  std::optional<grpc::ServerAsyncResponseWriter<typename Method::Reply>> responder_;
  typename Method::Request request_;
  typename Method::Reply reply_;
};

struct SeedRegister {
  using Service = SeedRegistryService;
  using Request = registry_service::RecordRequest;
  using Reply = registry_service::QueryReply;
  static constexpr auto kRequest = &Service::Requestdiscovery;
  static void Answer(Canned&, const Request&, Reply& reply) { reply.set_success(true); }
};

struct SeedHeartbeat {
  using Service = SeedRegistryService;
  using Request = registry_service::RenewRequest;
  using Reply = registry_service::QueryReply;
  static constexpr auto kRequest = &Service::RequestheartBeat;
  static void Answer(Canned&, const Request&, Reply& reply) { reply.set_success(true); }
};

struct FoundServer {
  static void Answer(Canned&, const auto&, discovery_service::QueryReply& reply) {
    reply.set_serverid(1);
    reply.set_serverip("127.0.0.1");
    reply.set_serverport(8000);
    reply.set_querysuccess(true);
  }
};

struct FindServer : FoundServer {
  using Service = SeedDiscoveryService;
  using Request = discovery_service::QueryRequest;
  using Reply = discovery_service::QueryReply;
  static constexpr auto kRequest = &Service::RequestfindServer;
};

struct WarnServerError : FoundServer {
  using Service = SeedDiscoveryService;
  using Request = discovery_service::ServerError;
  using Reply = discovery_service::QueryReply;
  static constexpr auto kRequest = &Service::RequestwarnServerError;
};

struct Register {
  using Service = NativeService;
  using Request = registry::v1::RegisterRequest;
  using Reply = registry::v1::RegisterResponse;
  static constexpr auto kRequest = &Service::RequestRegister;
  static void Answer(Canned& canned, const Request& request, Reply& reply) {
    canned.broadcast.Publish(request);
    reply.set_lease_id(0x5eed5eed5eed5eedULL);
    reply.set_ttl_ms(60'000);
    reply.set_instance_id("instance");
  }
};

struct Heartbeat {
  using Service = NativeService;
  using Request = registry::v1::HeartbeatRequest;
  using Reply = registry::v1::HeartbeatResponse;
  static constexpr auto kRequest = &Service::RequestHeartbeat;
  static void Answer(Canned&, const Request&, Reply& reply) { reply.set_ttl_ms(60'000); }
};

struct Deregister {
  using Service = NativeService;
  using Request = registry::v1::DeregisterRequest;
  using Reply = registry::v1::DeregisterResponse;
  static constexpr auto kRequest = &Service::RequestDeregister;
  static void Answer(Canned&, const Request&, Reply&) {}
};

struct Discover {
  using Service = NativeService;
  using Request = grpc::ByteBuffer;
  using Reply = grpc::ByteBuffer;
  static constexpr auto kRequest = &Service::RequestDiscover;
  static void Answer(Canned& canned, Request& request, Reply& reply) {
    registry::v1::DiscoverRequest parsed;
    (void)grpc::SerializationTraits<registry::v1::DiscoverRequest>::Deserialize(&request, &parsed);
    reply = canned.discover;  // shares the slices
  }
};

struct ListServices {
  using Service = NativeService;
  using Request = registry::v1::ListServicesRequest;
  using Reply = registry::v1::ListServicesResponse;
  static constexpr auto kRequest = &Service::RequestListServices;
  static void Answer(Canned&, const Request&, Reply&) {}
};

}  // namespace registryd::ceiling
