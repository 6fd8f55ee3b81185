#include "server/keep_alive_call.h"

#include <fmt/core.h>

#include "server/log.h"
#include "server/native_rpcs.h"
#include "server/status.h"

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

KeepAliveCall::KeepAliveCall(NativeRegistryService& service, ServingQueue& queue, KeepAliveBackend& backend)
    : service_(service), queue_(queue), backend_(backend), stream_(&context_) {}

void KeepAliveCall::OnStarted(bool ok) {
  if (!ok) {  // shutdown: no call started, so the done tag never comes (grpc/grpc#10136)
    delete this;
    return;
  }
  if (!queue_.AddStream(&context_)) context_.TryCancel();  // the server is stopping
  Start(service_, queue_, backend_);  // the next stream
  if (!StartRead()) End();
}

void KeepAliveCall::OnRead(bool ok) {
  if (!ok) {  // the client closed its side, broke, or the server is stopping
    End();
    return;
  }
  response_ = Renew(request_);
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
  stream_.Finish(grpc::Status::OK, &finished_);
  return true;
}

registry::v1::KeepAliveResponse KeepAliveCall::Renew(const registry::v1::KeepAliveRequest& request) {
  if (first_request_) {
    first_request_ = false;
    if (request.bind_to_stream()) bound_stream_ = backend_.bindings.NewStream();
  }
  registry::v1::KeepAliveResponse response;
  response.set_lease_id(request.lease_id());
  const auto refuse = [&](grpc::StatusCode code, std::string message) {
    response.set_code(code);
    response.set_message(std::move(message));
    return response;
  };
  if (request.lease_id() == kNoLease) return refuse(grpc::StatusCode::INVALID_ARGUMENT, "lease_id: must be set");
  if (bound_stream_ && !bound_leases_.contains(request.lease_id()) && bound_leases_.size() >= kMaxBoundLeases) {
    return refuse(grpc::StatusCode::RESOURCE_EXHAUSTED,
                  fmt::format("bind_to_stream: a stream holds at most {} leases", kMaxBoundLeases));
  }
  const absl::StatusOr<Duration> ttl = backend_.registry.Heartbeat(request.lease_id(), request.overloaded());
  if (!ttl.ok()) {
    if (bound_stream_ && bound_leases_.erase(request.lease_id()) > 0) {
      (void)backend_.bindings.Release(*bound_stream_, {request.lease_id()});  // gone: nothing to hold
    }
    const grpc::Status status = ToGrpcStatus(ttl.status());
    return refuse(status.error_code(), status.error_message());
  }
  if (bound_stream_) {
    // Every renewal binds: a lease another bound stream took over comes back
    // to the stream that renews it.
    backend_.bindings.Bind(request.lease_id(), *bound_stream_);
    bound_leases_.insert(request.lease_id());
  }
  response.set_ttl_ms(ToWireMillis(*ttl));
  return response;
}

// Bound leases go first, so a client that sees its stream end finds them
// gone. Once the queue is shutting down no Finish can start: gRPC ends the
// call, and only the done tag is left to come back.
void KeepAliveCall::End() {
  if (ending_) return;
  ending_ = true;
  if (bound_stream_) {
    const std::vector<LeaseId> held(bound_leases_.begin(), bound_leases_.end());
    for (const LeaseId lease : backend_.bindings.Release(*bound_stream_, held)) {
      if (backend_.registry.Deregister(lease).ok()) log::Debug("lease {:016x} removed with its stream", lease);
    }
    bound_leases_.clear();
  }
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
  queue_.RemoveStream(&context_);
  delete this;
}

}  // namespace registryd
