#include "server/streams/feed_responses.h"

#include <algorithm>

#include <grpcpp/impl/codegen/proto_utils.h>

#include "core/validation.h"
#include "metrics/thread_metrics.h"
#include "server/queue/status.h"

namespace registryd {
namespace {

registry::v1::WatchEvent::Kind KindOf(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kAdded:
      return registry::v1::WatchEvent::ADDED;
    case ChangeKind::kUpdated:
      return registry::v1::WatchEvent::UPDATED;
    case ChangeKind::kRemoved:
      return registry::v1::WatchEvent::REMOVED;
  }
  return registry::v1::WatchEvent::KIND_UNSPECIFIED;
}

registry::v1::WatchEvent::Reason ReasonOf(RemovalReason reason) {
  switch (reason) {
    case RemovalReason::kNone:
      return registry::v1::WatchEvent::REASON_UNSPECIFIED;
    case RemovalReason::kDeregistered:
      return registry::v1::WatchEvent::DEREGISTERED;
    case RemovalReason::kExpired:
      return registry::v1::WatchEvent::EXPIRED;
    case RemovalReason::kEjected:
      return registry::v1::WatchEvent::EJECTED;
  }
  return registry::v1::WatchEvent::REASON_UNSPECIFIED;
}

void Describe(const Change& change, registry::v1::WatchEvent& event) {
  event.set_kind(KindOf(change.kind));
  event.set_reason(ReasonOf(change.reason));
  event.set_revision(change.revision);
  registry::v1::Instance& instance = *event.mutable_instance();
  const InstanceRecord& record = *change.instance;
  instance.set_service(change.service);
  instance.set_instance_id(record.instance_id().data(), record.instance_id().size());
  if (change.kind == ChangeKind::kRemoved) return;
  instance.set_address(record.Address());
  for (auto& [key, value] : record.metadata()) (*instance.mutable_metadata())[key] = std::move(value);
  instance.set_overloaded(record.overloaded);
}

}  // namespace

absl::Status FeedResponses::Authorize(const lenient::WatchRequest& request, const auth::Caller& caller) {
  return request.service().empty() ? caller.MayOnEveryService(auth::Permission::kRead, "read")
                                   : caller.MayRead(request.service());
}

grpc::Status FeedResponses::Open(const lenient::WatchRequest& request) {
  if (!request.service().empty()) {
    if (absl::Status check = ValidateService("service", request.service()); !check.ok()) return ToGrpcStatus(check);
  }
  feed_.emplace(registry_, request.service(), request.since_revision());
  return grpc::Status::OK;
}

bool FeedResponses::SharedResponse(grpc::ByteBuffer& response) {
  if (batch_ || !feed_->started()) return false;
  const uint64_t upto = registry_.Revision();
  if (upto == feed_->revision()) return false;  // nothing new: nothing to send
  const WatchHub::SharedResponse* shared = hub_.FindResponse(feed_->service(), feed_->revision(), upto);
  if (shared == nullptr) return false;
  response = shared->buffer;  // shares the slices: no copy
  metrics::Local().watch_events_sent.Add(shared->events);
  feed_->SkipTo(upto);
  return true;
}

bool FeedResponses::Next(grpc::ByteBuffer& serialized) {
  if (SharedResponse(serialized)) return true;
  const uint64_t after = feed_->revision();
  if (!batch_) {
    batch_ = feed_->Next();
    batch_sent_ = 0;
    if (!batch_) return false;
  }
  registry::v1::WatchResponse response;
  const bool first = batch_sent_ == 0;
  response.set_snapshot(batch_->snapshot && first);
  response.set_history_lost(batch_->history_lost && first);
  response.set_coalesced(batch_->coalesced);
  const size_t begin = batch_sent_;
  const size_t end = std::min(batch_->changes.size(), batch_sent_ + kMaxEventsPerResponse);
  for (; batch_sent_ < end; ++batch_sent_) Describe(batch_->changes[batch_sent_], *response.add_events());
  response.set_more(batch_sent_ < batch_->changes.size());
  response.set_revision(batch_->revision);
  bool own_buffer = false;
  serialized.Clear();  // Serialize() fills an empty buffer
  if (!grpc::SerializationTraits<registry::v1::WatchResponse>::Serialize(response, &serialized, &own_buffer).ok()) {
    return false;  // cannot happen for a message this size; the stream ends with its client
  }
  metrics::ThreadMetrics& metrics = metrics::Local();  // on the stream's queue thread
  metrics.watch_events_sent.Add(end - begin);
  if (first) {
    if (batch_->history_lost) metrics.watch_snapshots_history_lost.Add();
    metrics.watch_events_coalesced.Add(batch_->folded);
  }
  // Changes that fit one response are what every stream of the service at
  // the same revision sends next.
  if (first && !response.more() && !batch_->snapshot && batch_->revision > after) {
    hub_.StoreResponse(feed_->service(), after, batch_->revision, serialized, end - begin);
  }
  if (!response.more()) batch_.reset();
  return true;
}

}  // namespace registryd
