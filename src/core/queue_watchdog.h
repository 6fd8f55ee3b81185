// Tells a supervisor (systemd's watchdog) that every completion queue still
// runs. Each queue reports from an alarm of its own on its own thread
// (server/watchdog_feeder.h), once a period; the report that finds every
// queue heard from within the last two periods pings, at most once a period.
// A queue stuck in a handler stops the pings, and the supervisor restarts
// the process. Off the calls' path: a ping costs one datagram a period.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/clock.h"

namespace registryd {

class QueueWatchdog {
 public:
  // `ping` runs on whichever queue's thread finds every queue alive.
  QueueWatchdog(size_t queues, Duration period, std::function<void()> ping);

  // How often each queue reports, and the least time between pings.
  Duration period() const { return period_; }
  // Queue `queue` ran at `now`.
  void Ran(size_t queue, TimePoint now);
  uint64_t pings() const { return pings_.load(std::memory_order_relaxed); }

 private:
  static Duration::rep Ticks(TimePoint at) { return at.time_since_epoch().count(); }

  const size_t queues_;
  const Duration period_;
  const std::function<void()> ping_;
  // Per queue, when it last reported (0: never).
  const std::unique_ptr<std::atomic<Duration::rep>[]> last_ran_;
  std::atomic<Duration::rep> next_ping_{0};
  std::atomic<uint64_t> pings_{0};
};

}  // namespace registryd
