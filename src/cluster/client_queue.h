// Where the cluster's asynchronous client calls (etcd Txns and Watch,
// renewals to other nodes) complete: on the serving queues, like every RPC.
// A thread of the cluster's own waiting on a completion queue would take
// turns at gRPC's epoll set (one for the process) with the serving threads:
// their I/O would wake it and be handed back, a context switch per call
// (measured: 1.45x the CPU per heartbeat). gRPC's callback API and its
// nexting_threads do the same, and a queue that does not poll cannot carry
// client calls (gRPC asserts on its missing pollset when a call connects).
//
// The queues are attached once the server built them and detached before it
// shuts them down: a call started while none is attached fails at once
// (UNAVAILABLE), and Detach waits for every call under way.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/support/async_unary_call.h>

#include "absl/functional/any_invocable.h"
#include "core/queue_event.h"

namespace registryd::cluster {

class ClientQueue {
 public:
  // A unary call in flight: its context, reply and status; `done` runs on a
  // serving queue's thread once it is over (or at once on the caller's, when
  // no queue is attached), then the call is deleted.
  template <typename Reply>
  struct Unary {
    grpc::ClientContext context;
    Reply reply;
    grpc::Status status;
    absl::AnyInvocable<void(Unary&)> done;
  };

  void Attach(std::vector<grpc::CompletionQueue*> queues);
  // No call starts from now on; returns once every call under way is over.
  void Detach();

  // Starts `start(&context, cq)` (a stub's PrepareAsyncX bound to its request).
  template <typename Reply, typename Start>
  void Call(std::unique_ptr<Unary<Reply>> call, Start&& start) {
    grpc::CompletionQueue* queue = Acquire();
    if (queue == nullptr) {
      call->status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the node is not serving (starting or stopping)");
      call->done(*call);
      return;
    }
    auto* pending = new Pending<Reply>(*this, std::move(call));
    pending->reader = start(&pending->call->context, queue);
    pending->Publish();
    pending->reader->StartCall();
    pending->reader->Finish(&pending->call->reply, &pending->call->status, pending);
    pending->Drop();  // the completion may have come already, on a queue thread
  }

  // For a call the caller drives itself (a stream): a queue to start it on,
  // or null when none is attached; Release once the call is over.
  grpc::CompletionQueue* Acquire();
  void Release();

 private:
  template <typename Reply>
  struct Pending final : QueueEvent {
    Pending(ClientQueue& owner, std::unique_ptr<Unary<Reply>> unary) : owner(owner), call(std::move(unary)) {}
    void Proceed(bool) override {
      call->done(*call);
      Drop();
    }
    // The caller starting the call and its completion each hold it; the last
    // one to let go deletes it (an atomic hand-off ThreadSanitizer can see).
    void Drop() {
      if (holds.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
      ClientQueue& queue = owner;
      delete this;
      queue.Release();
    }
    std::atomic<int> holds{2};
    ClientQueue& owner;
    std::unique_ptr<Unary<Reply>> call;
    std::unique_ptr<grpc::ClientAsyncResponseReader<Reply>> reader;
  };

  std::mutex mu_;
  std::condition_variable idle_;
  std::vector<grpc::CompletionQueue*> queues_;  // guarded by mu_; empty: detached
  size_t in_flight_ = 0;                        // guarded by mu_
  size_t next_ = 0;                             // guarded by mu_
};

}  // namespace registryd::cluster
