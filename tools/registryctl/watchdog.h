// What registryctl's long-running commands (keep, keep --session) wait
// with: SIGINT/SIGTERM, taken on a thread of its own (the caller blocks them
// everywhere else), and a deadline on the call being waited for.
#pragma once

#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <grpcpp/client_context.h>

namespace registryd::ctl {

using Clock = std::chrono::steady_clock;

// Waits for SIGINT/SIGTERM on a thread of its own (the signals are blocked
// everywhere else), and cancels the stream being waited on when a signal
// comes or when the registry leaves a renewal unanswered past its deadline.
class Watchdog {
 public:
  Watchdog() : thread_([this] { Run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    thread_.join();
  }

  bool stop_requested() {
    std::lock_guard lock(mu_);
    return stop_;
  }
  // Sleeps for `duration` unless a stop comes first; true when stopping.
  bool WaitFor(Clock::duration duration) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, duration, [this] { return stop_; });
  }
  // `context` is cancelled at `deadline` (or at a stop, unless it is the
  // stop's own last call) until Untrack().
  void Track(grpc::ClientContext* context, Clock::time_point deadline, bool cancel_on_stop = true) {
    std::lock_guard lock(mu_);
    tracked_ = context;
    deadline_ = deadline;
    cancel_on_stop_ = cancel_on_stop;
    if (stop_ && cancel_on_stop) context->TryCancel();
  }
  void Untrack() {
    std::lock_guard lock(mu_);
    tracked_ = nullptr;
  }

 private:
  void Run() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    const timespec tick{0, 100'000'000};
    for (;;) {
      const bool signalled = sigtimedwait(&signals, nullptr, &tick) > 0;
      std::lock_guard lock(mu_);
      if (quit_) return;
      if (signalled) {
        stop_ = true;
        changed_.notify_all();
      }
      if (tracked_ != nullptr && ((stop_ && cancel_on_stop_) || Clock::now() >= deadline_)) {
        tracked_->TryCancel();
        tracked_ = nullptr;
      }
    }
  }

  std::mutex mu_;
  std::condition_variable changed_;
  bool stop_ = false;
  bool quit_ = false;
  grpc::ClientContext* tracked_ = nullptr;
  bool cancel_on_stop_ = true;
  Clock::time_point deadline_;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace registryd::ctl
