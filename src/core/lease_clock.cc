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
  const size_t queues = std::max<uint32_t>(options_.queues, 1);
  frontiers_.assign(queues, unheld);
  earliest_hold_start_ = unheld;
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

  const Duration credit_before(credit_ns_.load(std::memory_order_relaxed));
  Duration credit = credit_before;
  // No alarm of any queue for that long, and hardly any CPU used (under 2% of
  // a core: a process stopped uses none; one starved of CPU by others still
  // gets some, and is behind, not stopped): it did not run. Lease time stands
  // still across the whole gap.
  if (gap > options_.late_bound && cpu_used < gap / 50) {
    credit += gap;
    ++stats_.stalls;
    stats_.stalled += gap;
    stalled_ns_.store(stats_.stalled.count(), std::memory_order_relaxed);
    earliest_hold_start_ = now - credit;  // where lease time stood when the stall began
    log::Warn("registryd did not run for {:.1f}s (paused?): every lease extended by {:.1f}s", Seconds(gap),
              Seconds(gap));
  }
  const TimePoint unheld = now - credit;

  // Late: the alarm, or a call that reached the queue long past its
  // deadline; on lease time, so that a stall (credited) does not count.
  Duration lateness = unheld - report.due;
  if (report.late_call_deadline) lateness = std::max(lateness, unheld - (*report.late_call_deadline - credit_before));
  if (report.unread_wait) lateness = std::max(lateness, *report.unread_wait);
  if (report.probe_sent) lateness = std::max(lateness, (now - stats_.stalled) - *report.probe_sent);
  if (lateness > options_.late_bound) behind_until_ = std::max(behind_until_, now + options_.late_bound);
  if (report.shed) behind_until_ = std::max(behind_until_, now + options_.after_shed);
  frontiers_[report.queue] = report.due;
  const bool behind = now < behind_until_;
  credit = Hold(behind, lateness, unheld, credit);

  // Held: where it stands. Else at most late_bound past the slowest queue's
  // last alarm; once a hold reached max_hold, past this one (so that only a
  // stall of the whole process stops it).
  const TimePoint slowest = *std::min_element(frontiers_.begin(), frontiers_.end());
  const TimePoint limit = held_at_ ? *held_at_ : (capped_ ? now - credit : slowest) + options_.late_bound;
  credit_ns_.store(credit.count(), std::memory_order_relaxed);
  limit_ns_.store(NsOf(limit), std::memory_order_release);
}

Duration LeaseClock::EndHold(TimePoint ended_at) {
  const Duration held = ended_at - *held_at_;
  earliest_hold_start_ = *held_at_;  // lease time goes on from there; a later hold starts no earlier
  held_at_.reset();
  stats_.held += held;
  stats_.longest_hold = std::max(stats_.longest_hold, held);
  return held;
}

Duration LeaseClock::Hold(bool behind, Duration lateness, TimePoint unheld, Duration credit) {
  // Lease time goes on from where it stood: the hold is credited.
  if (!behind) {
    capped_ = false;
    if (!held_at_) return credit;
    const Duration held = unheld - *held_at_;
    log::Info("registryd caught up: expiry held for {:.1f}s, and every lease is extended by that much", Seconds(held));
    return credit + EndHold(unheld);
  }
  if (capped_) return credit;
  if (!held_at_) {
    // Lease time goes back to where the wait it saw began (not before what a
    // stall or an earlier hold credited already), and stands there: lease
    // time that ran while renewals waited unseen, up to late_bound each
    // time, would add up over a long overload of many such waits. Never
    // later than readers may have seen it.
    const TimePoint wait_began = std::max(unheld - std::max(lateness, Duration::zero()), earliest_hold_start_);
    held_at_ = std::min(wait_began, FromNs(limit_ns_.load(std::memory_order_relaxed)));
    ++stats_.holds;
    log::Warn("registryd is behind: it runs {:.1f}s late; expiry holds until it catches up, for at most "
              "--max-hold {:.0f}s",
              Seconds(lateness), Seconds(options_.max_hold));
    return credit;
  }
  if (unheld - *held_at_ < options_.max_hold) return credit;
  capped_ = true;
  ++stats_.holds_capped;
  log::Error("registryd has been behind for --max-hold {:.0f}s: expiry goes on, and leases whose renewals wait in "
             "its queues longer than that may expire",
             Seconds(options_.max_hold));
  const Duration held = EndHold(*held_at_ + options_.max_hold);
  earliest_hold_start_ = unheld - held;  // lease time runs on from here, past what was held
  return credit + held;
}

LeaseClockStats LeaseClock::stats() const {
  const int64_t limit = limit_ns_.load(std::memory_order_acquire);
  const TimePoint unheld = Unheld();
  MutexLock lock(&mu_);
  LeaseClockStats stats = stats_;
  stats.hold = limit == INT64_MAX ? Duration::zero() : std::max(unheld - FromNs(limit), Duration::zero());
  if (held_at_) stats.longest_hold = std::max(stats.longest_hold, stats.hold);
  return stats;
}

}  // namespace registryd
