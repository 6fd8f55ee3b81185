// One server completion queue, the thread that polls it, and the objects whose
// tags live on it.
//
// Shutdown safety: nothing may be requested on a queue once it is shut down.
// Every request for a new call and every alarm re-arm happens under a
// StartGuard, which holds a per-queue mutex that only this queue's thread and the
// shutdown path ever take, so it costs an uncontended lock per call; Close()
// flips the flag under the same mutex before the server and the queue shut
// down (grpc/grpc#5076).
#pragma once

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <grpcpp/completion_queue.h>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "core/mutex.h"
#include "server/queue_event.h"

namespace registryd {

class ServingQueue {
 public:
  ServingQueue(uint32_t index, std::unique_ptr<grpc::ServerCompletionQueue> cq)
      : index_(index), cq_(std::move(cq)) {}
  ~ServingQueue();

  uint32_t index() const { return index_; }
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

    bool accepting() const ABSL_NO_THREAD_SAFETY_ANALYSIS { return queue_.accepting_; }

   private:
    ServingQueue& queue_;
  };

  // Makes StartGuard::accepting() false from now on; runs `cancel` under the same
  // lock (to cancel this queue's alarms).
  void Close(absl::FunctionRef<void()> cancel);

  // Takes ownership of an event object; it lives until the queue is drained.
  template <typename Event>
  Event& Own(std::unique_ptr<Event> event) {
    Event& ref = *event;
    events_.push_back(std::move(event));
    return ref;
  }

  void StartThread();
  // After the server's shutdown: shuts the queue down and waits until its
  // thread has drained every tag.
  void ShutdownAndJoin();

 private:
  void Run();

  const uint32_t index_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  Mutex mu_;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  std::vector<std::unique_ptr<QueueEvent>> events_;
  std::thread thread_;
};

}  // namespace registryd
