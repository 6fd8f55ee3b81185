#include "server/streams/keep_alive_call.h"

#include "metrics/thread_metrics.h"
#include "server/queue/caller_cache.h"
#include "server/queue/status.h"

namespace registryd {

void KeepAliveCall::Start(NativeRegistryService& service, ServingQueue& queue, KeepAliveBackend& backend) {
  auto* call = new KeepAliveCall(service, queue, backend);
  ServingQueue::StartGuard guard(queue);
  if (!guard.accepting()) {
    delete call;
    return;
  }
  call->context_.AsyncNotifyWhenDone(&call->done_);
  service.RequestKeepAlive(&call->context_, &call->stream_, queue.cq(), queue.cq(), &call->started_);
}

void KeepAliveCall::OnStarted(bool ok) {
  if (!ok) {  // shutdown: no call started, so the done tag never comes (grpc/grpc#10136)
    delete this;
    return;
  }
  metrics::Local().StreamOpened(metrics::StreamKind::kKeepAlive);
  if (!queue_.AddStream(&context_, ServingQueue::AtClose::kCancel)) context_.TryCancel();  // the server is stopping
  Start(service_, queue_, backend_);  // the next stream
  if (!StartRead()) End();
}

void KeepAliveCall::OnRead(bool ok) {
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
  if (*caller != nullptr) keeper_.set_caller(**caller);
  response_ = keeper_.Renew(request_);
  metrics::Local().Heartbeats(metrics::HeartbeatApi::kKeepAlive);
  if (!StartWrite()) End();
}

void KeepAliveCall::OnWritten(bool ok) {
  if (!ok || !StartRead()) End();
}

bool KeepAliveCall::StartRead() {
  ServingQueue::StartGuard guard(queue_);
  if (!guard.open()) return false;
  stream_.Read(&request_, &read_);
  return true;
}

bool KeepAliveCall::StartWrite() {
  ServingQueue::StartGuard guard(queue_);
  if (!guard.open()) return false;
  stream_.Write(response_, &written_);
  return true;
}

bool KeepAliveCall::StartFinish() {
  ServingQueue::StartGuard guard(queue_);
  if (!guard.open()) return false;
  stream_.Finish(status_, &finished_);
  return true;
}

// Released leases go first, so a client that sees its stream end finds them
// gone. Once the queue is shutting down no Finish can start: gRPC ends the
// call, and only the done tag is left to come back.
void KeepAliveCall::End() {
  if (ending_) return;
  ending_ = true;
  keeper_.Release();
  if (!StartFinish()) {
    finish_back_ = true;
    DeleteWhenIdle();
  }
}

void KeepAliveCall::OnFinished(bool) {
  finish_back_ = true;
  DeleteWhenIdle();
}

// Until End(), a read or a write is always pending, so a cancelled stream
// (client gone, server stopping) ends through its failure; the done tag only
// has to come back.
void KeepAliveCall::OnDone(bool) {
  done_back_ = true;
  DeleteWhenIdle();
}

void KeepAliveCall::DeleteWhenIdle() {
  if (!finish_back_ || !done_back_) return;
  metrics::ThreadMetrics& metrics = metrics::Local();
  metrics.StreamClosed(metrics::StreamKind::kKeepAlive);
  // Its status is OK but for a caller refused at the start: a lease's
  // failure travels in its response's code.
  metrics.Call(metrics::MethodIndex("registry.v1.Registry/KeepAlive"), status_.error_code());
  queue_.RemoveStream(&context_);
  delete this;
}

}  // namespace registryd
