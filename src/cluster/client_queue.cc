#include "cluster/client_queue.h"

namespace registryd::cluster {

void ClientQueue::Attach(std::vector<grpc::CompletionQueue*> queues) {
  std::lock_guard<std::mutex> lock(mu_);
  queues_ = std::move(queues);
}

void ClientQueue::Detach() {
  std::unique_lock<std::mutex> lock(mu_);
  queues_.clear();
  idle_.wait(lock, [this] { return in_flight_ == 0; });
}

grpc::CompletionQueue* ClientQueue::Acquire() {
  std::lock_guard<std::mutex> lock(mu_);
  if (queues_.empty()) return nullptr;
  ++in_flight_;
  return queues_[next_++ % queues_.size()];
}

void ClientQueue::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--in_flight_ == 0) idle_.notify_all();
}

}  // namespace registryd::cluster
