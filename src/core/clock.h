// Time as the registry sees it. Every deadline in src/core is computed from a
// Clock, so unit tests drive a ManualClock instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>

namespace registryd {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// The monotonic system clock: what the server runs on.
class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

// A clock that moves only when told to. Thread-safe, so tests can advance it
// while other threads read it.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{} + std::chrono::hours(1))
      : now_(start.time_since_epoch().count()) {}

  TimePoint Now() const override {
    return TimePoint{Duration{now_.load(std::memory_order_acquire)}};
  }
  void Advance(Duration by) { now_.fetch_add(by.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<Duration::rep> now_;
};

}  // namespace registryd
