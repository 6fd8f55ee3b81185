#include "core/queue_watchdog.h"

namespace registryd {

QueueWatchdog::QueueWatchdog(size_t queues, Duration period, std::function<void()> ping)
    : queues_(queues),
      period_(period),
      ping_(std::move(ping)),
      last_ran_(std::make_unique<std::atomic<Duration::rep>[]>(queues)) {}

void QueueWatchdog::Ran(size_t queue, TimePoint now) {
  last_ran_[queue].store(Ticks(now), std::memory_order_relaxed);
  Duration::rep due = next_ping_.load(std::memory_order_relaxed);
  if (Ticks(now) < due) return;
  // Two periods: a queue's alarm may fire late by up to one.
  const Duration::rep oldest_alive = Ticks(now - 2 * period_);
  for (size_t other = 0; other < queues_; ++other) {
    const Duration::rep ran = last_ran_[other].load(std::memory_order_relaxed);
    if (ran == 0 || ran < oldest_alive) return;
  }
  // One ping per period, whichever queue gets here first.
  if (!next_ping_.compare_exchange_strong(due, Ticks(now + period_), std::memory_order_relaxed)) return;
  pings_.fetch_add(1, std::memory_order_relaxed);
  ping_();
}

}  // namespace registryd
