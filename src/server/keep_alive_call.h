// registry.v1.Registry/KeepAlive: heartbeats over one bidirectional stream.
// One KeepAliveCall object serves one stream, on its queue's thread:
//
//   requested --ok--> (requests the next stream) read
//   read --ok--> renew the lease, write the response --ok--> read ...
//   read or write --!ok--> Finish(OK) (the client closed, broke or the server
//                          is shutting down; gRPC sends what still can be sent)
//   the object deletes itself once Finish's tag and the done tag
//   (AsyncNotifyWhenDone) are both back: no tag outlives it.
//
// One operation at a time per stream (a read, then its response's write), so
// a client that sends without reading is held back by flow control, and a
// stream holds one request and one response. A stream whose first request
// sets bind_to_stream removes the leases it renewed when it ends.
#pragma once

#include <optional>

#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>

#include "absl/container/flat_hash_set.h"
#include "core/lease_bindings.h"
#include "core/registry.h"
#include "server/lenient_services.h"
#include "server/queue_event.h"
#include "server/serving_queue.h"

namespace registryd {

// What KeepAlive streams work on, shared by every queue.
struct KeepAliveBackend {
  Registry& registry;
  LeaseBindings& bindings;
};

class KeepAliveCall {
 public:
  // A stream may hold at most this many bound leases.
  static constexpr size_t kMaxBoundLeases = 10'000;

  // Requests a stream on `queue`; the object owns itself from then on.
  static void Start(NativeRegistryService& service, ServingQueue& queue, KeepAliveBackend& backend);

 private:
  KeepAliveCall(NativeRegistryService& service, ServingQueue& queue, KeepAliveBackend& backend);

  void OnStarted(bool ok);
  void OnRead(bool ok);
  void OnWritten(bool ok);
  void OnFinished(bool ok);
  void OnDone(bool ok);

  // Each starts its operation unless the queue is shutting down (false).
  bool StartRead();
  bool StartWrite();
  bool StartFinish();

  registry::v1::KeepAliveResponse Renew(const registry::v1::KeepAliveRequest& request);
  // Removes the stream's bound leases and finishes the stream, once.
  void End();
  void DeleteWhenIdle();

  NativeRegistryService& service_;
  ServingQueue& queue_;
  KeepAliveBackend& backend_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<registry::v1::KeepAliveResponse, registry::v1::KeepAliveRequest> stream_;
  CallStep<KeepAliveCall> started_{*this, &KeepAliveCall::OnStarted};
  CallStep<KeepAliveCall> read_{*this, &KeepAliveCall::OnRead};
  CallStep<KeepAliveCall> written_{*this, &KeepAliveCall::OnWritten};
  CallStep<KeepAliveCall> finished_{*this, &KeepAliveCall::OnFinished};
  CallStep<KeepAliveCall> done_{*this, &KeepAliveCall::OnDone};
  registry::v1::KeepAliveRequest request_;
  registry::v1::KeepAliveResponse response_;
  bool first_request_ = true;
  std::optional<StreamId> bound_stream_;  // set when the stream binds its leases
  absl::flat_hash_set<LeaseId> bound_leases_;
  bool ending_ = false;
  bool finish_back_ = false;
  bool done_back_ = false;
};

}  // namespace registryd
