// One server completion queue, the thread that polls it, and the objects whose
// tags live on it.
//
// Shutdown safety: nothing may be started on a queue once it is shut down
// (gRPC aborts when the last pending tag is gone; grpc/grpc#5076). Every
// request for a new call, every alarm re-arm and every operation on a call
// under way happens under a StartGuard, which holds a per-queue mutex that
// this queue's thread, the shutdown path and, once per wake, a thread waking
// the queue's streams (WatchHub::Poke) take, so it is rarely contended.
// Close() stops new calls and alarms (accepting() turns false) and cancels
// the queue's open streams but those that end themselves; ShutdownAndJoin()
// stops every operation (open() turns false) just before it shuts the queue
// down.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/completion_queue.h>
#include <grpcpp/server_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "core/clock.h"
#include "core/mutex.h"
#include "core/queue_event.h"
#include "metrics/thread_metrics.h"
#include "server/queue/caller_cache.h"
#include "server/queue/unsent_answers.h"

namespace registryd {

class ServingQueue {
 public:
  // `late_bound`: a call handled this long after its deadline shows the
  // queue is behind (core/lease_clock.h).
  ServingQueue(uint32_t index, std::unique_ptr<grpc::ServerCompletionQueue> cq, Duration late_bound);
  ~ServingQueue();

  uint32_t index() const { return index_; }

  // A call arrived at `arrived`: if that was late_bound past its deadline,
  // the queue's next expiry alarm reports it (expiry holds), and the answer
  // is true: its client gave up on it long ago (gRPC's server deadline is the
  // client's timeout from when the headers were read, never earlier than the
  // client's own). Its thread only; one compare unless the call is late.
  bool CheckArrival(const grpc::ServerContext& context, std::chrono::steady_clock::time_point arrived) {
    gpr_timespec deadline = context.raw_deadline();
    if (deadline.tv_sec == INT64_MAX) return false;  // none
    if (deadline.clock_type != GPR_CLOCK_MONOTONIC) deadline = OnGrpcMonotonicClock(deadline);
    const TimePoint due(std::chrono::seconds(deadline.tv_sec) + std::chrono::nanoseconds(deadline.tv_nsec) +
                        grpc_clock_offset_);
    if (arrived - due <= late_bound_) return false;
    metrics::Local().late_calls.Add();
    if (!late_call_ || due < *late_call_) late_call_ = due;
    return true;
  }
  // The earliest deadline of a late call since the last take. Its thread only.
  std::optional<TimePoint> TakeLateCall() { return std::exchange(late_call_, std::nullopt); }
  // Set when an authorization policy is: who calls, for this queue's calls
  // (used on its thread only).
  void set_callers(std::unique_ptr<CallerCache> callers);
  CallerCache* callers() { return callers_.get(); }
  // This queue's unary calls whose answers wait to be sent (its thread only).
  UnsentAnswers& unsent_answers() { return unsent_answers_; }
  grpc::ServerCompletionQueue* cq() { return cq_.get(); }

  // Holds the queue's accepting state steady while a tag is handed to it:
  //   ServingQueue::StartGuard guard(queue);
  //   if (guard.accepting()) { ...request a call or set an alarm... }
  class ABSL_SCOPED_LOCKABLE StartGuard {
   public:
    explicit StartGuard(ServingQueue& queue) ABSL_EXCLUSIVE_LOCK_FUNCTION(queue.mu_)
        : queue_(queue) {
      queue_.mu_.Lock();
    }
    ~StartGuard() ABSL_UNLOCK_FUNCTION() { queue_.mu_.Unlock(); }
    StartGuard(const StartGuard&) = delete;
    StartGuard& operator=(const StartGuard&) = delete;

    // New calls may be requested and alarms set.
    bool accepting() const ABSL_NO_THREAD_SAFETY_ANALYSIS { return queue_.accepting_; }
    // Operations on calls under way may start.
    bool open() const ABSL_NO_THREAD_SAFETY_ANALYSIS { return queue_.open_; }

   private:
    ServingQueue& queue_;
  };

  // Makes StartGuard::accepting() false from now on, cancels the streams
  // under way, and runs `cancel` under the same lock (to cancel this queue's
  // alarms).
  void Close(absl::FunctionRef<void()> cancel);

  // What Close() does to a stream under way on this queue.
  enum class AtClose {
    kCancel,     // cancelled, so that shutdown does not wait for its client to end it
    kEndsItself  // left to send its last message and finish (health Watch: NOT_SERVING)
  };
  // A stream under way; the queue is not quiet while it is. AddStream
  // returns false (and keeps nothing) once the queue is closed: the caller
  // ends the stream itself.
  bool AddStream(grpc::ServerContext* context, AtClose at_close);
  void RemoveStream(grpc::ServerContext* context);

  // Unary call objects that are not idle: waiting for a call, or in one.
  // After the server's shutdown has begun, no requested call is left, so
  // none means no unary call is under way.
  void UnaryCallBusy() { busy_unary_calls_.fetch_add(1, std::memory_order_relaxed); }
  void UnaryCallIdle() { busy_unary_calls_.fetch_sub(1, std::memory_order_release); }
  // Closed, and no call under way: no unary call object busy, no stream open.
  bool Quiet();

  // Takes ownership of an object whose tags live on this queue (an event, a
  // pool of them); it lives until the queue is drained.
  template <typename Owned>
  Owned& Own(std::unique_ptr<Owned> owned) {
    Owned& ref = *owned;
    owned_.emplace_back(owned.release(), [](void* object) { delete static_cast<Owned*>(object); });
    return ref;
  }

  void StartThread();
  // After the server's shutdown: shuts the queue down and waits until its
  // thread has drained every tag.
  void ShutdownAndJoin();

 private:
  void Run();

  static gpr_timespec OnGrpcMonotonicClock(gpr_timespec time);

  const uint32_t index_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  const Duration late_bound_;
  const Duration grpc_clock_offset_;  // steady_clock less gRPC's monotonic clock
  std::optional<TimePoint> late_call_;  // its thread only
  std::unique_ptr<CallerCache> callers_;
  UnsentAnswers unsent_answers_;
  Mutex mu_;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  absl::flat_hash_map<grpc::ServerContext*, AtClose> streams_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> busy_unary_calls_ = 0;
  std::vector<std::unique_ptr<void, void (*)(void*)>> owned_;
  std::thread thread_;
};

}  // namespace registryd
