#include "http/bounded_pool.h"

namespace registryd::http {

BoundedPool::BoundedPool(size_t threads, size_t max_waiting) : max_waiting_(max_waiting) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

BoundedPool::~BoundedPool() { shutdown(); }

void BoundedPool::enqueue(std::function<void()> job) {
  std::unique_lock<std::mutex> lock(mu_);
  has_room_.wait(lock, [&] { return jobs_.size() < max_waiting_ || shutting_down_; });
  jobs_.push_back(std::move(job));
  has_job_.notify_one();
}

void BoundedPool::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
  }
  has_job_.notify_all();
  has_room_.notify_all();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void BoundedPool::Work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      has_job_.wait(lock, [&] { return !jobs_.empty() || shutting_down_; });
      if (jobs_.empty()) return;  // shutting down, nothing left
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    has_room_.notify_one();
    job();  // serves the connection and closes it
  }
}

}  // namespace registryd::http
