#include "bench/ceiling_streams.h"

#include <grpcpp/impl/codegen/proto_utils.h>

namespace registryd {
namespace {

grpc::ByteBuffer Serialize(const registry::v1::WatchResponse& response) {
  grpc::ByteBuffer buffer;
  bool own_buffer = false;
  (void)grpc::SerializationTraits<registry::v1::WatchResponse>::Serialize(response, &buffer, &own_buffer);
  return buffer;
}

}  // namespace

void WatchBroadcast::Publish(const lenient::RegisterRequest& request) {
  registry::v1::WatchResponse response;
  registry::v1::WatchEvent& event = *response.add_events();
  event.set_kind(registry::v1::WatchEvent::ADDED);
  registry::v1::Instance& instance = *event.mutable_instance();
  instance.set_service(request.service());
  instance.set_instance_id(request.instance_id());
  instance.set_address(request.address());
  for (const auto& entry : request.metadata()) (*instance.mutable_metadata())[entry.key()] = entry.value();
  {
    MutexLock lock(&mu_);
    event.set_revision(++revision_);
    response.set_revision(revision_);
    latest_ = Serialize(response);
  }
  hubs_.OnChanges(0);
}

bool WatchBroadcast::Latest(uint64_t* seen, grpc::ByteBuffer* response) const {
  MutexLock lock(&mu_);
  if (revision_ <= *seen) return false;
  *seen = revision_;
  *response = latest_;  // shares the slices
  return true;
}

bool BroadcastResponses::Next(grpc::ByteBuffer& response) {
  if (!snapshot_sent_) {
    snapshot_sent_ = true;
    (void)broadcast_.Latest(&seen_, &response);  // what came before the stream is not news
    registry::v1::WatchResponse snapshot;
    snapshot.set_snapshot(true);
    response = Serialize(snapshot);
    return true;
  }
  return broadcast_.Latest(&seen_, &response);
}

}  // namespace registryd
