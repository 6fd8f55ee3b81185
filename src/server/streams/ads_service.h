// envoy.service.discovery.v3.AggregatedDiscoveryService, with its stream
// requested raw: requests arrive as bytes (parsed by the call, so a bad one
// gets INVALID_ARGUMENT rather than gRPC's INTERNAL) and responses leave as
// shared serialized entries (server/streams/xds_resource_cache.h).
#pragma once

#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/byte_buffer.h>

#include "envoy/discovery.grpc.pb.h"

namespace registryd {

class AdsService final : public envoy::service::discovery::v3::AggregatedDiscoveryService::AsyncService {
 public:
  void RequestStreamRaw(grpc::ServerContext* context,
                        grpc::ServerAsyncReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream,
                        grpc::CompletionQueue* call_cq, grpc::ServerCompletionQueue* notification_cq, void* tag) {
    RequestAsyncBidiStreaming(kStreamAggregatedResourcesMethod, context, stream, call_cq, notification_cq, tag);
  }

 private:
  static constexpr int kStreamAggregatedResourcesMethod = 0;
};

}  // namespace registryd
