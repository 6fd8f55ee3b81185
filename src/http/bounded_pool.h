// The HTTP face's threads: a fixed pool serving one connection at a time
// each, with a bounded queue of accepted connections waiting for one. When
// the queue is full the accepting thread waits too, and further connections
// wait in the kernel's listen backlog: however many clients come, the port
// holds `threads + max_waiting` connections and as many threads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace registryd::http {

class BoundedPool final : public httplib::TaskQueue {
 public:
  BoundedPool(size_t threads, size_t max_waiting);
  ~BoundedPool() override;
  BoundedPool(const BoundedPool&) = delete;
  BoundedPool& operator=(const BoundedPool&) = delete;

  // A connection to serve; blocks while `max_waiting` wait already.
  void enqueue(std::function<void()> job) override;
  // Serves what waits, then ends the threads.
  void shutdown() override;

 private:
  void Work();

  const size_t max_waiting_;
  std::mutex mu_;
  std::condition_variable has_job_;
  std::condition_variable has_room_;
  std::deque<std::function<void()>> jobs_;
  bool shutting_down_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace registryd::http
