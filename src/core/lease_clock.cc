#include "core/lease_clock.h"

#include <ctime>

#include "core/log.h"

namespace registryd {
namespace {

double Seconds(Duration duration) { return std::chrono::duration<double>(duration).count(); }

}  // namespace

TimePoint ProcessCpuClock::Now() const {
  timespec used{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &used);
  return TimePoint(std::chrono::seconds(used.tv_sec) + std::chrono::nanoseconds(used.tv_nsec));
}

LeaseClock::LeaseClock(const Clock& base, const Clock& cpu, const LeaseClockOptions& options)
    : base_(base), cpu_(cpu), options_(options) {}

void LeaseClock::Start() {
  MutexLock lock(&mu_);
  const TimePoint unheld = Unheld();
  frontiers_.assign(std::max<uint32_t>(options_.queues, 1), unheld);
  last_report_ = base_.Now();
  last_report_cpu_ = cpu_.Now();
  limit_ns_.store(NsOf(unheld + options_.late_bound), std::memory_order_release);
}

void LeaseClock::Observe(const AlarmReport& report) {
  MutexLock lock(&mu_);
  if (frontiers_.empty() || report.queue >= frontiers_.size()) return;  // not started
  const TimePoint now = base_.Now();
  const TimePoint cpu = cpu_.Now();
  const Duration gap = now - last_report_;
  const Duration cpu_used = cpu - last_report_cpu_;
  last_report_ = now;
  last_report_cpu_ = cpu;

  Duration credit(credit_ns_.load(std::memory_order_relaxed));
  // No alarm of any queue for that long, and hardly any CPU used: the process
  // did not run. Lease time stands still across the whole gap.
  if (gap > options_.late_bound && cpu_used < gap / 2) {
    credit += gap;
    ++stats_.stalls;
    stats_.stalled += gap;
    log::Warn("registryd did not run for {:.1f}s (paused?): every lease extended by {:.1f}s", Seconds(gap),
              Seconds(gap));
  }
  const TimePoint unheld = now - credit;

  TimePoint frontier = report.due;
  if (report.late_call_deadline) frontier = std::min(frontier, *report.late_call_deadline - credit);
  frontiers_[report.queue] = frontier;
  const TimePoint slowest = *std::min_element(frontiers_.begin(), frontiers_.end());
  const bool capped = slowest + options_.late_bound < unheld - options_.max_hold;
  const TimePoint limit = capped ? unheld - options_.max_hold : slowest + options_.late_bound;
  credit_ns_.store(credit.count(), std::memory_order_relaxed);
  limit_ns_.store(NsOf(limit), std::memory_order_release);
  NoteHold(std::max(unheld - limit, Duration::zero()), capped);
}

void LeaseClock::NoteHold(Duration hold, bool capped) {
  if (hold > Duration::zero()) {
    if (!holding_) {
      holding_ = true;
      episode_longest_ = Duration::zero();
      ++stats_.holds;
      log::Warn("registryd is behind: its queues answer {:.1f}s late; expiry holds until they catch up (for at most "
                "--max-hold {:.0f}s)",
                Seconds(hold + options_.late_bound), Seconds(options_.max_hold));
    }
    episode_longest_ = std::max(episode_longest_, hold);
    stats_.longest_hold = std::max(stats_.longest_hold, hold);
    if (capped && !capped_) {
      capped_ = true;
      ++stats_.holds_capped;
      log::Error("registryd has been behind for longer than --max-hold {:.0f}s: expiry goes on, and leases whose "
                 "renewals wait in its queues longer than that expire",
                 Seconds(options_.max_hold));
    }
    return;
  }
  if (!holding_) return;
  holding_ = false;
  capped_ = false;
  log::Info("registryd caught up: expiry had held back by up to {:.1f}s", Seconds(episode_longest_));
}

LeaseClockStats LeaseClock::stats() const {
  const int64_t limit = limit_ns_.load(std::memory_order_acquire);
  const TimePoint unheld = Unheld();
  MutexLock lock(&mu_);
  LeaseClockStats stats = stats_;
  stats.hold = limit == INT64_MAX ? Duration::zero() : std::max(unheld - FromNs(limit), Duration::zero());
  return stats;
}

}  // namespace registryd
