#include "bench/ceiling_streams.h"

#include <grpcpp/impl/codegen/proto_utils.h>

namespace registryd::ceiling {
namespace {

grpc::ByteBuffer Serialize(const registry::v1::WatchResponse& response) {
  grpc::ByteBuffer buffer;
  bool own_buffer = false;
  (void)grpc::SerializationTraits<registry::v1::WatchResponse>::Serialize(response, &buffer, &own_buffer);
  return buffer;
}

}  // namespace

void WatchWake::Poke() {
  if (wake_set_.exchange(true, std::memory_order_acq_rel)) return;  // a wake is on its way
  std::lock_guard lock(alarm_mu_);
  if (!closed_) alarm_.Set(queue_.cq(), gpr_inf_past(GPR_CLOCK_MONOTONIC), this);
}

void WatchWake::Close() {
  std::lock_guard lock(alarm_mu_);
  closed_ = true;
  alarm_.Cancel();
}

void WatchWake::Proceed(bool ok) {
  if (!ok || queue_.stopping()) return;
  wake_set_.store(false, std::memory_order_release);  // a Publish from now on sets a new wake
  // Pump() may end a stream, which removes it: iterate a copy.
  const std::vector<WatchStream*> streams(streams_.begin(), streams_.end());
  for (WatchStream* stream : streams) {
    if (streams_.contains(stream)) stream->Pump();
  }
}

void Broadcast::Publish(const registry::v1::RegisterRequest& request) {
  registry::v1::WatchResponse response;
  registry::v1::WatchEvent& event = *response.add_events();
  event.set_kind(registry::v1::WatchEvent::ADDED);
  registry::v1::Instance& instance = *event.mutable_instance();
  instance.set_service(request.service());
  instance.set_instance_id(request.instance_id());
  instance.set_address(request.address());
  *instance.mutable_metadata() = request.metadata();
  {
    std::lock_guard lock(mu_);
    event.set_revision(++revision_);
    response.set_revision(revision_);
    latest_ = Serialize(response);
  }
  for (const auto& wake : wakes_) wake->Poke();
}

bool Broadcast::Latest(uint64_t* seen, grpc::ByteBuffer* response) {
  std::lock_guard lock(mu_);
  if (revision_ <= *seen) return false;
  *seen = revision_;
  *response = latest_;  // shares the slices
  return true;
}

void KeepAliveStream::Start(NativeService& service, CeilingQueue& queue) {
  auto* stream = new KeepAliveStream(service, queue);
  service.RequestKeepAlive(&stream->context_, &stream->stream_, queue.cq(), queue.cq(), &stream->started_);
}

void KeepAliveStream::OnStarted(bool ok) {
  if (!ok || queue_.stopping()) {  // no call started
    delete this;
    return;
  }
  Start(service_, queue_);  // the next stream
  stream_.Read(&request_, &read_);
}

void KeepAliveStream::OnRead(bool ok) {
  if (!ok) {  // the client closed its side, or the call was cancelled
    Finish();
    return;
  }
  if (queue_.stopping()) {  // no operation may start: gRPC ends the call
    delete this;
    return;
  }
  response_.set_lease_id(request_.lease_id());
  response_.set_ttl_ms(60'000);
  stream_.Write(response_, &written_);
}

void KeepAliveStream::OnWritten(bool ok) {
  if (!ok) {
    Finish();
    return;
  }
  if (queue_.stopping()) {
    delete this;
    return;
  }
  stream_.Read(&request_, &read_);
}

void KeepAliveStream::Finish() {
  if (queue_.stopping()) {
    delete this;  // no operation is pending: gRPC ends the call
    return;
  }
  stream_.Finish(grpc::Status::OK, &finished_);
}

void KeepAliveStream::OnFinished(bool) { delete this; }

void WatchStream::Start(NativeService& service, CeilingQueue& queue, Broadcast& broadcast, WatchWake& wake) {
  auto* stream = new WatchStream(service, queue, broadcast, wake);
  stream->context_.AsyncNotifyWhenDone(&stream->done_);
  service.RequestWatch(&stream->context_, &stream->request_, &stream->writer_, queue.cq(), queue.cq(),
                       &stream->started_);
}

void WatchStream::OnStarted(bool ok) {
  if (!ok) {  // no call started, so no done tag comes (grpc/grpc#10136)
    delete this;
    return;
  }
  if (queue_.stopping()) {
    finish_back_ = true;  // only the done tag is left to come
    return;
  }
  Start(service_, queue_, broadcast_, wake_);  // the next stream
  registry::v1::WatchRequest request;
  (void)grpc::SerializationTraits<registry::v1::WatchRequest>::Deserialize(&request_, &request);
  // What came before the stream is not news: an empty snapshot, then events.
  (void)broadcast_.Latest(&seen_, &response_);
  registry::v1::WatchResponse snapshot;
  snapshot.set_snapshot(true);
  response_ = Serialize(snapshot);
  wake_.Add(this);
  Write();
}

void WatchStream::Pump() {
  if (writing_ || ending_) return;
  if (broadcast_.Latest(&seen_, &response_)) Write();
}

void WatchStream::Write() {
  writing_ = true;
  writer_.Write(response_, &written_);
}

void WatchStream::OnWritten(bool ok) {
  writing_ = false;
  if (!ok || ending_ || queue_.stopping()) {
    End();
    return;
  }
  Pump();
}

void WatchStream::OnDone(bool) {
  done_back_ = true;
  End();
}

// Every way out comes here; Finish starts once no write is under way.
void WatchStream::End() {
  if (!ending_) {
    ending_ = true;
    wake_.Remove(this);
  }
  if (writing_ || finish_back_) {
    DeleteWhenIdle();
    return;
  }
  if (queue_.stopping()) {
    finish_back_ = true;  // no Finish can start: gRPC ends the call
  } else if (!finish_started_) {
    finish_started_ = true;
    writer_.Finish(grpc::Status::OK, &finished_);
    return;
  }
  DeleteWhenIdle();
}

void WatchStream::OnFinished(bool) {
  finish_back_ = true;
  DeleteWhenIdle();
}

void WatchStream::DeleteWhenIdle() {
  if (finish_back_ && done_back_ && !writing_) delete this;
}

}  // namespace registryd::ceiling
