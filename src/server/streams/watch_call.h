// A server stream that sends updates as they come: registry.v1.Registry/Watch
// (a snapshot, then changes) and grpc.health.v1.Health/Watch (the serving
// status, then each change of it). One WatchCall object serves one stream,
// on its queue's thread:
//
//   requested --ok--> (requests the next stream) Source::Open, join the hub,
//                     Pump(): write what the source has --ok--> Pump() ...
//                     (nothing new: idle until the hub wakes the stream;
//                     nothing more ever, Source::Ended(): Finish)
//   a write --!ok--> or the done tag (client gone, server stopping)
//                --> leave the hub, Finish once no write is under way
//   the object deletes itself once Finish's tag and the done tag are back.
//
// One write at a time: what piles up meanwhile stays with the source (for
// registryd's Watch, in the shards' change logs), not here.
//
// Source is what the stream sends, one per stream: FeedResponses for the
// registry's Watch, HealthResponses for health's; the type also names the
// method and what Close() does to the stream:
//   using Backend, Service, Request; static constexpr kRequest (Service's
//   request method, writing grpc::ByteBuffer); static constexpr
//   ServingQueue::AtClose kAtClose;
//   Source(Backend&, WatchHub&); grpc::Status Open(const Request&);
//   bool Reads(uint32_t shard) const; bool Next(grpc::ByteBuffer&);
//   std::optional<grpc::Status> Ended() const (set: finish once Next is dry).
//   Optionally static absl::Status Authorize(const Request&, const
//   auth::Caller&): under a policy, asked before Open with the stream's
//   caller, and again before the next response once the policy was
//   reloaded; a refusal ends the stream with it.
#pragma once

#include <optional>

#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include "auth/caller.h"
#include "core/queue_event.h"
#include "server/queue/status.h"
#include "metrics/thread_metrics.h"
#include "server/queue/serving_queue.h"
#include "server/queue/stream_caller.h"
#include "server/queue/watch_hub.h"

namespace registryd {

template <typename Source>
class WatchCall final : public Watcher {
 public:
  using Backend = typename Source::Backend;
  using Service = typename Source::Service;

  // Requests a stream on `queue`; the object owns itself from then on.
  static void Start(Service& service, ServingQueue& queue, Backend& backend, WatchHub& hub) {
    auto* call = new WatchCall(service, queue, backend, hub);
    ServingQueue::StartGuard guard(queue);
    if (!guard.accepting()) {
      delete call;
      return;
    }
    call->context_.AsyncNotifyWhenDone(&call->done_);
    (service.*Source::kRequest)(&call->context_, &call->request_, &call->writer_, queue.cq(), queue.cq(),
                                &call->started_);
  }

  bool Reads(uint32_t shard) const override { return source_.Reads(shard); }

  void Pump() override {
    if (writing_ || ending_) return;
    if (grpc::Status allowed = AuthorizeIfReloaded(); !allowed.ok()) {
      End(allowed);
      return;
    }
    if (!source_.Next(response_)) {
      if (std::optional<grpc::Status> ended = source_.Ended()) End(*ended);
      return;  // else idle until the hub wakes us
    }
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

 private:
  WatchCall(Service& service, ServingQueue& queue, Backend& backend, WatchHub& hub)
      : service_(service), queue_(queue), backend_(backend), hub_(hub), source_(backend, hub), writer_(&context_) {}

  void OnStarted(bool ok) {
    if (!ok) {  // shutdown: no call started, so the done tag never comes (grpc/grpc#10136)
      delete this;
      return;
    }
    Start(service_, queue_, backend_, hub_);  // the next stream
    metrics::Local().StreamOpened(Source::kStreamKind);
    if (!queue_.AddStream(&context_, Source::kAtClose) && Source::kAtClose == ServingQueue::AtClose::kCancel) {
      context_.TryCancel();  // the server is stopping
    }
    if (grpc::Status allowed = AuthorizeIfReloaded(); !allowed.ok()) {
      End(allowed);
      return;
    }
    if (grpc::Status opened = source_.Open(request_); !opened.ok()) {
      End(opened);
      return;
    }
    hub_.Add(this);
    Pump();
  }

  static constexpr bool kAuthorized = requires(const typename Source::Request& request, const auth::Caller& caller) {
    Source::Authorize(request, caller);
  };

  // The caller, checked when the stream opens and again after each policy
  // reload: the policy of the moment applies to a stream under way.
  grpc::Status AuthorizeIfReloaded() {
    if constexpr (kAuthorized) {
      const absl::StatusOr<const auth::CallerRef*> caller = caller_.ResolveIfReloaded(queue_, context_);
      if (!caller.ok()) return ToGrpcStatus(caller.status());
      if (*caller != nullptr) return ToGrpcStatus(Source::Authorize(request_, ***caller));
    }
    return grpc::Status::OK;
  }

  void OnWritten(bool ok) {
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
  void End(const grpc::Status& status) {
    if (!ending_) {
      ending_ = status;
      hub_.Remove(this);
    }
    FinishWhenIdle();
  }

  void FinishWhenIdle() {
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

  void OnFinished(bool) {
    finish_back_ = true;
    DeleteWhenIdle();
  }

  // An idle stream has no operation pending: the done tag is how it learns
  // that its client left or the server is stopping.
  void OnDone(bool) {
    done_back_ = true;
    if (!ending_) {
      End(grpc::Status::OK);
      return;
    }
    DeleteWhenIdle();
  }

  void DeleteWhenIdle() {
    if (!finish_back_ || !done_back_) return;
    metrics::ThreadMetrics& metrics = metrics::Local();
    metrics.StreamClosed(Source::kStreamKind);
    metrics.Call(kMetricIndex, ending_->error_code());
    queue_.RemoveStream(&context_);
    delete this;
  }

  static constexpr size_t kMetricIndex = metrics::MethodIndex(Source::kName);
  static_assert(kMetricIndex < metrics::kMethods.size(), "every stream is listed in metrics::kMethods");

  Service& service_;
  ServingQueue& queue_;
  Backend& backend_;
  WatchHub& hub_;
  Source source_;
  grpc::ServerContext context_;
  grpc::ServerAsyncWriter<grpc::ByteBuffer> writer_;
  CallStep<WatchCall> started_{*this, &WatchCall::OnStarted};
  CallStep<WatchCall> written_{*this, &WatchCall::OnWritten};
  CallStep<WatchCall> finished_{*this, &WatchCall::OnFinished};
  CallStep<WatchCall> done_{*this, &WatchCall::OnDone};
  typename Source::Request request_;
  grpc::ByteBuffer response_;
  StreamCaller caller_;  // authorized again after each policy reload
  bool writing_ = false;
  std::optional<grpc::Status> ending_;  // set once the stream is to end
  bool finish_started_ = false;
  bool finish_back_ = false;
  bool done_back_ = false;
};

}  // namespace registryd
