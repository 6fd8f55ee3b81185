#include "server/serving_queue.h"

namespace registryd {

ServingQueue::~ServingQueue() { ShutdownAndJoin(); }

void ServingQueue::set_callers(std::unique_ptr<CallerCache> callers) { callers_ = std::move(callers); }

void ServingQueue::Close(absl::FunctionRef<void()> cancel) {
  MutexLock lock(&mu_);
  accepting_ = false;
  for (const auto& [stream, at_close] : streams_) {
    if (at_close == AtClose::kCancel) stream->TryCancel();
  }
  cancel();
}

bool ServingQueue::AddStream(grpc::ServerContext* context, AtClose at_close) {
  MutexLock lock(&mu_);
  if (!accepting_) return false;
  streams_.emplace(context, at_close);
  return true;
}

void ServingQueue::RemoveStream(grpc::ServerContext* context) {
  MutexLock lock(&mu_);
  streams_.erase(context);
}

bool ServingQueue::Quiet() {
  MutexLock lock(&mu_);
  return !accepting_ && streams_.empty() && busy_unary_calls_.load(std::memory_order_acquire) == 0;
}

void ServingQueue::StartThread() {
  thread_ = std::thread([this] { Run(); });
}

void ServingQueue::Run() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) {
    auto* event = static_cast<QueueEvent*>(tag);
    event->Acquire();
    event->Proceed(ok);
  }
}

void ServingQueue::ShutdownAndJoin() {
  if (!thread_.joinable()) return;
  {
    MutexLock lock(&mu_);
    open_ = false;
  }
  cq_->Shutdown();
  thread_.join();
}

}  // namespace registryd
