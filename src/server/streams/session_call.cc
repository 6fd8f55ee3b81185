#include "server/streams/session_call.h"

#include <algorithm>

#include "metrics/thread_metrics.h"
#include "server/queue/caller_cache.h"
#include "server/queue/status.h"

namespace registryd {

void SessionCall::Start(NativeRegistryService& service, ServingQueue& queue, RegistryWriter& writer) {
  std::shared_ptr<SessionCall> call(new SessionCall(service, queue, writer));
  ServingQueue::StartGuard guard(queue);
  if (!guard.accepting()) return;
  call->self_ = call;
  call->context_.AsyncNotifyWhenDone(&call->done_);
  service.RequestSessionLenient(&call->context_, &call->stream_, queue.cq(), queue.cq(), &call->started_);
}

void SessionCall::OnStarted(bool ok) {
  if (!ok) {  // shutdown: no call started, so the done tag never comes (grpc/grpc#10136)
    self_.reset();  // last: it may delete this
    return;
  }
  metrics::Local().StreamOpened(metrics::StreamKind::kSession);
  if (!queue_.AddStream(&context_, ServingQueue::AtClose::kCancel)) context_.TryCancel();  // the server is stopping
  Start(service_, queue_, writer_);  // the next stream
  session_.set_peer(context_.peer());
  if (!StartRead()) End();
}

void SessionCall::OnRead(bool ok) {
  if (!ok) {  // the client closed its side, broke, or the server is stopping
    End();
    return;
  }
  // Resolved again when the policy was reloaded: it applies to a stream under way.
  const absl::StatusOr<const auth::CallerRef*> caller = caller_.ResolveIfReloaded(queue_, context_);
  if (!caller.ok()) {
    status_ = ToGrpcStatus(caller.status());
    End();
    return;
  }
  if (*caller != nullptr) session_.set_caller(**caller);
  answer_phase_.store(kHandling, std::memory_order_relaxed);
  // The callback hands itself (`self`) to the wake before it says it
  // answered: the exchange orders both for the queue's thread.
  // After the exchange the queue's thread may run the wake, and end the
  // object, as soon as the alarm is set: nothing of it is read past that
  // point but through what the lambda holds.
  session_.Handle(request_, response_, [this, self = self_, &queue = queue_](grpc::Status status) mutable {
    answer_status_ = std::move(status);
    waking_ = std::move(self);
    if (answer_phase_.exchange(kAnswered, std::memory_order_acq_rel) != kReturned) return;  // inside Handle
    // Answered on another thread, after Handle returned: on to the queue's.
    ServingQueue::StartGuard guard(queue);
    if (guard.open()) {
      alarm_.Set(queue.cq(), gpr_inf_past(GPR_CLOCK_MONOTONIC), &answered_);
      return;
    }
    waking_.reset();  // the queue is gone, and so is the stream: this may end it
  });
  if (answer_phase_.exchange(kReturned, std::memory_order_acq_rel) == kAnswered) {
    waking_.reset();  // answered inside Handle: no wake to hold it for
    Answered(std::move(answer_status_));
  } else {
    awaiting_answer_ = true;
  }
}

void SessionCall::OnAnswered(bool) {
  (void)answer_phase_.load(std::memory_order_acquire);  // what the answer's thread wrote
  awaiting_answer_ = false;
  const std::shared_ptr<SessionCall> keep = std::move(waking_);  // until this returns
  if (!ending_) Answered(std::move(answer_status_));
}

void SessionCall::Answered(grpc::Status status) {
  if (!status.ok()) {
    status_ = std::move(status);
    End();
    return;
  }
  if (request_.kind_case() == lenient::SessionRequest::kClose) end_after_write_ = true;
  if (!StartWrite()) End();
}

void SessionCall::OnWritten(bool ok) {
  // A large register or deregister leaves its capacity in both messages
  // (a cleared protobuf keeps its repeated fields' room): a session stream,
  // idle for most of its life, keeps none of it.
  constexpr int kKeptInstances = 8;
  if (std::max(request_.register_().instances_size(), request_.deregister().lease_ids_size()) > kKeptInstances) {
    request_ = lenient::SessionRequest();
    response_ = registry::v1::SessionResponse();
  }
  if (!ok || end_after_write_ || !StartRead()) End();
}

bool SessionCall::StartRead() {
  ServingQueue::StartGuard guard(queue_);
  if (!guard.open()) return false;
  stream_.Read(&request_, &read_);
  return true;
}

bool SessionCall::StartWrite() {
  ServingQueue::StartGuard guard(queue_);
  if (!guard.open()) return false;
  stream_.Write(response_, &written_);
  return true;
}

bool SessionCall::StartFinish() {
  ServingQueue::StartGuard guard(queue_);
  if (!guard.open()) return false;
  stream_.Finish(status_, &finished_);
  return true;
}

// The session is left in grace before the stream ends, so a client that
// sees its stream end can resume at once. Once the queue is shutting down
// no Finish can start: gRPC ends the call, and only the done tag is left.
void SessionCall::End() {
  if (ending_) return;
  ending_ = true;
  session_.Release();
  if (!StartFinish()) {
    finish_back_ = true;
    LetGoWhenIdle();
  }
}

void SessionCall::OnFinished(bool) {
  finish_back_ = true;
  LetGoWhenIdle();
}

// While a read or a write is pending, a cancelled stream ends through its
// failure. While an answer is awaited none is: the done tag ends it, and
// the answer, when it comes, finds it ending (an open or resume answered
// then leaves its session in grace itself: SessionStream::Release).
void SessionCall::OnDone(bool) {
  done_back_ = true;
  if (awaiting_answer_ && !ending_) {
    End();
    return;
  }
  LetGoWhenIdle();
}

void SessionCall::LetGoWhenIdle() {
  if (!finish_back_ || !done_back_ || !self_) return;
  metrics::ThreadMetrics& metrics = metrics::Local();
  metrics.StreamClosed(metrics::StreamKind::kSession);
  metrics.Call(metrics::MethodIndex("registry.v1.Registry/Session"), status_.error_code());
  queue_.RemoveStream(&context_);
  self_.reset();  // last: it may delete this
}

}  // namespace registryd
