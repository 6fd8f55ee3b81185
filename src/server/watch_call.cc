#include "server/watch_call.h"

#include <algorithm>

#include <grpcpp/impl/codegen/proto_utils.h>

#include "core/validation.h"
#include "server/status.h"

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

void WatchCall::Start(NativeRegistryService& service, ServingQueue& queue, Registry& registry, WatchHub& hub) {
  auto* call = new WatchCall(service, queue, registry, hub);
  ServingQueue::StartGuard guard(queue);
  if (!guard.accepting()) {
    delete call;
    return;
  }
  call->context_.AsyncNotifyWhenDone(&call->done_);
  service.RequestWatchLenient(&call->context_, &call->request_, &call->writer_, queue.cq(), queue.cq(),
                              &call->started_);
}

WatchCall::WatchCall(NativeRegistryService& service, ServingQueue& queue, Registry& registry, WatchHub& hub)
    : service_(service), queue_(queue), registry_(registry), hub_(hub), writer_(&context_) {}

void WatchCall::OnStarted(bool ok) {
  if (!ok) {  // shutdown: no call started, so the done tag never comes (grpc/grpc#10136)
    delete this;
    return;
  }
  Start(service_, queue_, registry_, hub_);  // the next stream
  if (!queue_.AddStream(&context_)) context_.TryCancel();  // the server is stopping
  if (!request_.service().empty()) {
    if (absl::Status check = ValidateService("service", request_.service()); !check.ok()) {
      End(ToGrpcStatus(check));
      return;
    }
  }
  feed_.emplace(registry_, request_.service(), request_.since_revision());
  hub_.Add(this);
  Pump();
}

void WatchCall::Pump() {
  if (writing_ || ending_) return;
  if (!NextResponse()) return;  // idle until the hub wakes us
  {
    ServingQueue::StartGuard guard(queue_);
    if (guard.open()) {
      writing_ = true;
      writer_.Write(response_, &written_);
      return;
    }
  }
  End(grpc::Status::OK);  // the queue is shutting down
}

bool WatchCall::SharedResponse() {
  if (batch_ || !feed_->started()) return false;
  const uint64_t upto = registry_.Revision();
  const grpc::ByteBuffer* shared = hub_.FindResponse(feed_->service(), feed_->revision(), upto);
  if (shared == nullptr) return false;
  response_ = *shared;  // shares the slices: no copy
  feed_->SkipTo(upto);
  return true;
}

bool WatchCall::NextResponse() {
  if (SharedResponse()) return true;
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
  const size_t end = std::min(batch_->changes.size(), batch_sent_ + kMaxEventsPerResponse);
  for (; batch_sent_ < end; ++batch_sent_) Describe(batch_->changes[batch_sent_], *response.add_events());
  response.set_more(batch_sent_ < batch_->changes.size());
  response.set_revision(batch_->revision);
  bool own_buffer = false;
  response_.Clear();  // Serialize() fills an empty buffer
  if (!grpc::SerializationTraits<registry::v1::WatchResponse>::Serialize(response, &response_, &own_buffer).ok()) {
    return false;  // cannot happen for a message this size; the stream ends with its client
  }
  // Changes that fit one response are what every stream of the service at
  // the same revision sends next.
  if (first && !response.more() && !batch_->snapshot) {
    hub_.StoreResponse(feed_->service(), after, batch_->revision, response_);
  }
  if (!response.more()) batch_.reset();
  return true;
}

void WatchCall::OnWritten(bool ok) {
  writing_ = false;
  // A failed write: the client is gone, or the server is stopping. Or the
  // stream ended (the done tag) while this write was under way.
  if (!ok || ending_) {
    End(grpc::Status::OK);
    return;
  }
  Pump();
}

// Once the stream is to end, every path comes here until Finish starts.
void WatchCall::End(const grpc::Status& status) {
  if (!ending_) {
    ending_ = status;
    hub_.Remove(this);
  }
  FinishWhenIdle();
}

void WatchCall::FinishWhenIdle() {
  if (writing_ || finish_started_ || finish_back_) return;
  finish_started_ = true;
  {
    ServingQueue::StartGuard guard(queue_);
    if (guard.open()) {
      writer_.Finish(*ending_, &finished_);
      return;
    }
  }
  finish_back_ = true;  // no Finish can start once the queue shuts down: gRPC ends the call
  DeleteWhenIdle();
}

void WatchCall::OnFinished(bool) {
  finish_back_ = true;
  DeleteWhenIdle();
}

// An idle stream has no operation pending: the done tag is how it learns
// that its client left or the server is stopping.
void WatchCall::OnDone(bool) {
  done_back_ = true;
  if (!ending_) {
    End(grpc::Status::OK);
    return;
  }
  DeleteWhenIdle();
}

void WatchCall::DeleteWhenIdle() {
  if (!finish_back_ || !done_back_) return;
  queue_.RemoveStream(&context_);
  delete this;
}

}  // namespace registryd
