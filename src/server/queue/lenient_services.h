// The generated async services, plus request methods that parse the
// text-carrying requests as registryd::lenient messages (see
// lenient_requests.proto). grpc::Service::RequestAsyncUnary takes any message
// type; the method index is the rpc's position in its service.
#pragma once

#include <grpcpp/support/async_unary_call.h>
#include <grpcpp/support/byte_buffer.h>

#include "discovery_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "registryd/lenient_requests.pb.h"
#include "registry/v1/registry.grpc.pb.h"
#include "registry_service.grpc.pb.h"

namespace registryd {

class SeedRegistryService final : public registry_service::RegistryService::AsyncService {
 public:
  void RequestRegisterLenient(grpc::ServerContext* context, lenient::RecordRequest* request,
                              grpc::ServerAsyncResponseWriter<registry_service::QueryReply>* responder,
                              grpc::CompletionQueue* call_cq, grpc::ServerCompletionQueue* notification_cq,
                              void* tag) {
    RequestAsyncUnary(kDiscoveryMethod, context, request, responder, call_cq, notification_cq, tag);
  }

 private:
  static constexpr int kDiscoveryMethod = 0;  // rpc discovery
};

class SeedDiscoveryService final : public discovery_service::DiscoveryService::AsyncService {
 public:
  void RequestFindServerLenient(grpc::ServerContext* context, lenient::QueryRequest* request,
                                grpc::ServerAsyncResponseWriter<discovery_service::QueryReply>* responder,
                                grpc::CompletionQueue* call_cq, grpc::ServerCompletionQueue* notification_cq,
                                void* tag) {
    RequestAsyncUnary(kFindServerMethod, context, request, responder, call_cq, notification_cq, tag);
  }

 private:
  static constexpr int kFindServerMethod = 0;  // rpc findServer
};

class NativeRegistryService final : public registry::v1::Registry::AsyncService {
 public:
  void RequestRegisterLenient(grpc::ServerContext* context, lenient::RegisterRequest* request,
                              grpc::ServerAsyncResponseWriter<registry::v1::RegisterResponse>* responder,
                              grpc::CompletionQueue* call_cq, grpc::ServerCompletionQueue* notification_cq,
                              void* tag) {
    RequestAsyncUnary(kRegisterMethod, context, request, responder, call_cq, notification_cq, tag);
  }
  // Answers with the serialized DiscoverResponse, which may come from a cache.
  void RequestDiscoverLenient(grpc::ServerContext* context, lenient::DiscoverRequest* request,
                              grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>* responder,
                              grpc::CompletionQueue* call_cq, grpc::ServerCompletionQueue* notification_cq,
                              void* tag) {
    RequestAsyncUnary(kDiscoverMethod, context, request, responder, call_cq, notification_cq, tag);
  }
  // Writes serialized WatchResponses, which watchers at one revision share.
  void RequestWatchLenient(grpc::ServerContext* context, lenient::WatchRequest* request,
                           grpc::ServerAsyncWriter<grpc::ByteBuffer>* writer, grpc::CompletionQueue* call_cq,
                           grpc::ServerCompletionQueue* notification_cq, void* tag) {
    RequestAsyncServerStreaming(kWatchMethod, context, request, writer, call_cq, notification_cq, tag);
  }
  void RequestSessionLenient(
      grpc::ServerContext* context,
      grpc::ServerAsyncReaderWriter<registry::v1::SessionResponse, lenient::SessionRequest>* stream,
      grpc::CompletionQueue* call_cq, grpc::ServerCompletionQueue* notification_cq, void* tag) {
    RequestAsyncBidiStreaming(kSessionMethod, context, stream, call_cq, notification_cq, tag);
  }

 private:
  static constexpr int kRegisterMethod = 0;  // rpc Register
  static constexpr int kDiscoverMethod = 3;  // rpc Discover
  static constexpr int kWatchMethod = 6;     // rpc Watch
  static constexpr int kSessionMethod = 7;   // rpc Session
};

// grpc.health.v1.Health on the queues, like every other service (gRPC's
// default health service would bring polling threads of its own).
class HealthService final : public grpc::health::v1::Health::AsyncService {
 public:
  void RequestCheckLenient(grpc::ServerContext* context, lenient::HealthCheckRequest* request,
                           grpc::ServerAsyncResponseWriter<grpc::health::v1::HealthCheckResponse>* responder,
                           grpc::CompletionQueue* call_cq, grpc::ServerCompletionQueue* notification_cq,
                           void* tag) {
    RequestAsyncUnary(kCheckMethod, context, request, responder, call_cq, notification_cq, tag);
  }
  // Writes serialized HealthCheckResponses.
  void RequestWatchLenient(grpc::ServerContext* context, lenient::HealthCheckRequest* request,
                           grpc::ServerAsyncWriter<grpc::ByteBuffer>* writer, grpc::CompletionQueue* call_cq,
                           grpc::ServerCompletionQueue* notification_cq, void* tag) {
    RequestAsyncServerStreaming(kWatchMethod, context, request, writer, call_cq, notification_cq, tag);
  }

 private:
  static constexpr int kCheckMethod = 0;  // rpc Check
  static constexpr int kWatchMethod = 1;  // rpc Watch
};

}  // namespace registryd
