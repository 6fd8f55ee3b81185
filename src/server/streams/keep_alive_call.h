// registry.v1.Registry/KeepAlive: heartbeats over one bidirectional stream.
// One KeepAliveCall object serves one stream, on its queue's thread:
//
//   requested --ok--> (requests the next stream) read
//   read --ok--> answer it (Keeper::Renew), write the response --ok--> read ...
//   read or write --!ok--> Keeper::Release, Finish(OK) (the client closed,
//                          broke or the server is shutting down; gRPC sends
//                          what still can be sent)
//   read, caller not resolved (an unknown bearer token) --> Finish(it)
//   the object deletes itself once Finish's tag and the done tag
//   (AsyncNotifyWhenDone) are both back: no tag outlives it.
//
// One operation at a time per stream (a read, then its response's write), so
// a client that sends without reading is held back by flow control, and a
// stream holds one request and one response.
//
// StreamLeases answers the requests and holds the stream's bound leases.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>

#include "server/queue/lenient_services.h"
#include "core/queue_event.h"
#include "server/queue/serving_queue.h"
#include "server/queue/stream_caller.h"
#include "server/streams/stream_leases.h"

namespace registryd {

class KeepAliveCall {
 public:
  // Requests a stream on `queue`; the object owns itself from then on.
  static void Start(NativeRegistryService& service, ServingQueue& queue, KeepAliveBackend& backend);

 private:
  KeepAliveCall(NativeRegistryService& service, ServingQueue& queue, KeepAliveBackend& backend)
      : service_(service), queue_(queue), backend_(backend), keeper_(backend), stream_(&context_) {}

  void OnStarted(bool ok);
  void OnRead(bool ok);
  void OnWritten(bool ok);
  // Each starts its operation unless the queue is shutting down (false).
  bool StartRead();
  bool StartWrite();
  bool StartFinish();
  void End();
  void OnFinished(bool ok);
  void OnDone(bool ok);
  void DeleteWhenIdle();

  NativeRegistryService& service_;
  ServingQueue& queue_;
  KeepAliveBackend& backend_;
  StreamLeases keeper_;
  grpc::ServerContext context_;
  grpc::Status status_;  // what Finish sends
  StreamCaller caller_;  // resolved again after each policy reload
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
