// registry_ceiling's completion queues, written as gRPC's own async examples
// and its QPS benchmark server write them (test/cpp/qps/server_async.cc): one
// thread per queue, each tag an object with Proceed(ok), and a per-queue
// mutex held while a tag is handled, so that shutdown cannot slip in between
// a tag's handling and the next request it makes (grpc/grpc#5076).
// Nothing here is registryd's: the ceiling is the plainest async server that
// does the work registryd's RPCs do, so registryd/ceiling shows what
// registryd adds to gRPC.
#pragma once

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <grpcpp/completion_queue.h>

#include "core/queue_event.h"

namespace registryd::ceiling {

// Every tag is a QueueEvent (an interface, the same as registryd's): its
// Proceed(ok) runs with the queue's mutex held and may start new operations
// only while CeilingQueue::stopping() is false.

class CeilingQueue {
 public:
  explicit CeilingQueue(std::unique_ptr<grpc::ServerCompletionQueue> cq) : cq_(std::move(cq)) {}
  ~CeilingQueue() { ShutdownAndJoin(); }

  grpc::ServerCompletionQueue* cq() { return cq_.get(); }
  // Only from inside Proceed (the mutex is held).
  bool stopping() const { return stopping_; }

  // Keeps a reusable call object for as long as the queue lives.
  template <typename Call>
  Call& Own(std::unique_ptr<Call> call) {
    Call& ref = *call;
    calls_.push_back(std::move(call));
    return ref;
  }

  void StartThread() {
    thread_ = std::thread([this] {
      void* tag = nullptr;
      bool ok = false;
      while (cq_->Next(&tag, &ok)) {
        std::lock_guard lock(mu_);
        static_cast<QueueEvent*>(tag)->Proceed(ok);
      }
    });
  }

  // After the server's Shutdown: no operation starts from now on; drains
  // the queue (every object sees its last tags with ok=false or true).
  void ShutdownAndJoin() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cq_->Shutdown();
    thread_.join();
  }

 private:
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::mutex mu_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<QueueEvent>> calls_;
  std::thread thread_;
};

}  // namespace registryd::ceiling
