#include "server/serving_queue.h"

namespace registryd {

ServingQueue::~ServingQueue() { ShutdownAndJoin(); }

void ServingQueue::Close(absl::FunctionRef<void()> cancel) {
  MutexLock lock(&mu_);
  accepting_ = false;
  cancel();
}

void ServingQueue::StartThread() {
  thread_ = std::thread([this] { Run(); });
}

void ServingQueue::Run() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) static_cast<QueueEvent*>(tag)->Proceed(ok);
}

void ServingQueue::ShutdownAndJoin() {
  if (!thread_.joinable()) return;
  cq_->Shutdown();
  thread_.join();
}

}  // namespace registryd
