// registry.v1.Registry/KeepAlive: heartbeats over one bidirectional stream.
// One KeepAliveCall object serves one stream, on its queue's thread:
//
//   requested --ok--> (requests the next stream) read
//   read --ok--> answer it (Keeper::Renew), write the response --ok--> read ...
//   read or write --!ok--> Keeper::Release, Finish(OK) (the client closed,
//                          broke or the server is shutting down; gRPC sends
//                          what still can be sent)
//   the object deletes itself once Finish's tag and the done tag
//   (AsyncNotifyWhenDone) are both back: no tag outlives it.
//
// One operation at a time per stream (a read, then its response's write), so
// a client that sends without reading is held back by flow control, and a
// stream holds one request and one response.
//
// Keeper is what answers the requests, one per stream: registryd's is
// StreamLeases; the benchmark's gRPC ceiling answers with a constant.
//   Keeper(Keeper::Backend&); KeepAliveResponse Renew(const KeepAliveRequest&); void Release();
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>

#include "server/lenient_services.h"
#include "server/queue_event.h"
#include "server/serving_queue.h"

namespace registryd {

template <typename Keeper>
class KeepAliveCall {
 public:
  using Backend = typename Keeper::Backend;

  // Requests a stream on `queue`; the object owns itself from then on.
  static void Start(NativeRegistryService& service, ServingQueue& queue, Backend& backend) {
    auto* call = new KeepAliveCall(service, queue, backend);
    ServingQueue::StartGuard guard(queue);
    if (!guard.accepting()) {
      delete call;
      return;
    }
    call->context_.AsyncNotifyWhenDone(&call->done_);
    service.RequestKeepAlive(&call->context_, &call->stream_, queue.cq(), queue.cq(), &call->started_);
  }

 private:
  KeepAliveCall(NativeRegistryService& service, ServingQueue& queue, Backend& backend)
      : service_(service), queue_(queue), backend_(backend), keeper_(backend), stream_(&context_) {}

  void OnStarted(bool ok) {
    if (!ok) {  // shutdown: no call started, so the done tag never comes (grpc/grpc#10136)
      delete this;
      return;
    }
    if (!queue_.AddStream(&context_, ServingQueue::AtClose::kCancel)) context_.TryCancel();  // the server is stopping
    Start(service_, queue_, backend_);                       // the next stream
    if (!StartRead()) End();
  }

  void OnRead(bool ok) {
    if (!ok) {  // the client closed its side, broke, or the server is stopping
      End();
      return;
    }
    response_ = keeper_.Renew(request_);
    if (!StartWrite()) End();
  }

  void OnWritten(bool ok) {
    if (!ok || !StartRead()) End();
  }

  // Each starts its operation unless the queue is shutting down (false).
  bool StartRead() {
    ServingQueue::StartGuard guard(queue_);
    if (!guard.open()) return false;
    stream_.Read(&request_, &read_);
    return true;
  }
  bool StartWrite() {
    ServingQueue::StartGuard guard(queue_);
    if (!guard.open()) return false;
    stream_.Write(response_, &written_);
    return true;
  }
  bool StartFinish() {
    ServingQueue::StartGuard guard(queue_);
    if (!guard.open()) return false;
    stream_.Finish(grpc::Status::OK, &finished_);
    return true;
  }

  // Released leases go first, so a client that sees its stream end finds
  // them gone. Once the queue is shutting down no Finish can start: gRPC ends
  // the call, and only the done tag is left to come back.
  void End() {
    if (ending_) return;
    ending_ = true;
    keeper_.Release();
    if (!StartFinish()) {
      finish_back_ = true;
      DeleteWhenIdle();
    }
  }

  void OnFinished(bool) {
    finish_back_ = true;
    DeleteWhenIdle();
  }

  // Until End(), a read or a write is always pending, so a cancelled stream
  // (client gone, server stopping) ends through its failure; the done tag
  // only has to come back.
  void OnDone(bool) {
    done_back_ = true;
    DeleteWhenIdle();
  }

  void DeleteWhenIdle() {
    if (!finish_back_ || !done_back_) return;
    queue_.RemoveStream(&context_);
    delete this;
  }

  NativeRegistryService& service_;
  ServingQueue& queue_;
  Backend& backend_;
  Keeper keeper_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<registry::v1::KeepAliveResponse, registry::v1::KeepAliveRequest> stream_;
  CallStep<KeepAliveCall> started_{*this, &KeepAliveCall::OnStarted};
  CallStep<KeepAliveCall> read_{*this, &KeepAliveCall::OnRead};
  CallStep<KeepAliveCall> written_{*this, &KeepAliveCall::OnWritten};
  CallStep<KeepAliveCall> finished_{*this, &KeepAliveCall::OnFinished};
  CallStep<KeepAliveCall> done_{*this, &KeepAliveCall::OnDone};
  registry::v1::KeepAliveRequest request_;
  registry::v1::KeepAliveResponse response_;
  bool ending_ = false;
  bool finish_back_ = false;
  bool done_back_ = false;
};

}  // namespace registryd
