// The clock leases run on: the monotonic clock, less the time registryd
// could not serve its clients.
//
// A lease must never expire because registryd itself did not run (SIGSTOP, a
// VM pause, swap, a debugger) or fell behind (renewals waiting in its queues
// and sockets). Every completion queue reports each of its expiry alarms when
// it fires (Observe): when it was due, so how late the queue runs, and
// whether it got calls long past their deadline. Two things follow, both
// decided here, on the queues' alarms, never on a call:
//
// - A stall. No queue reported anything for longer than `late_bound`, and the
//   process used hardly any CPU meanwhile (under 2% of a core): it did not
//   run. The whole
//   gap goes into the credit, and lease time (the monotonic clock less the
//   credit: Unheld() while nothing holds it) stands still across it, so every
//   deadline moves by the stall's length. Unbounded: a stall of any length
//   expires nothing whose client kept renewing, and one whose client stopped
//   expires at most its TTL plus the stall after its last renewal.
// - Behind. A queue handles its alarm later than `late_bound` after it was
//   due, or handles a call more than `late_bound` past the call's deadline, or
//   requests have waited that long unread in the kernel (ReceiveBacklog), or
//   registryd's own renewal probe has (server/renewal_probe.h: it waits
//   behind the calls gRPC read but no handler took yet, which nothing else
//   sees):
//   renewals wait in registryd's queues and sockets (or are given up on
//   there) for longer than registryd should make anyone wait. Lease time then
//   goes back to where that wait began (no further than the last stall or
//   hold: those are credited already) and stands still there (a hold) until
//   every queue has been on time, with no such call, for `late_bound`; the
//   time held goes into the credit, so every lease is extended by it, and a
//   renewal that waited through the backlog, or that its client gave up on
//   and sends again, finds its lease. Bounded:
//   a hold lasts at most `max_hold`; then lease time runs on, and no new hold
//   starts until registryd has caught up. Nothing piles up to expire at the
//   end of a hold: what was due moves with it.
//
// Between alarms lease time may run at most `late_bound` past the slowest
// queue's last alarm (its frontier): while no queue runs, it stops there,
// however long the stall, so a call handled after the stall but before any
// alarm finds every lease as it was; and a queue stuck on its own stops it
// before its late alarm tells. So Now() = min(Unheld(), limit), where each
// alarm sets the limit to the held time, or to the slowest frontier plus
// `late_bound` (once a hold reached max_hold: this alarm's time plus
// `late_bound`). At a stall lease time may step back (by at most
// late_bound), and at the start of a hold by the wait it saw: either only
// delays expiry (the wheel never reports a lease before its deadline).
//
// Now() is the hot path: the base clock and two loads. Observe() takes a
// mutex that only the queues' alarms take (a few dozen times a second).
//
// Memory ordering: Observe stores the credit, then (release) the limit; Now
// loads the limit (acquire), then the credit. A reader that sees the new
// limit sees the new credit; one that sees the old limit with the new credit
// gets a time no later than the old one, since the credit only grows.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "core/clock.h"
#include "core/mutex.h"

namespace registryd {

// The CPU time the whole process has used (CLOCK_PROCESS_CPUTIME_ID), as a
// time point: what tells a stall (no CPU used) from being busy.
class ProcessCpuClock final : public Clock {
 public:
  TimePoint Now() const override;
};

struct LeaseClockOptions {
  uint32_t queues = 1;
  // An alarm this late, or no alarm at all for this long, means registryd did
  // not run or is behind. At least twice the expiry tick (alarms come once a
  // tick when all is well).
  Duration late_bound = std::chrono::milliseconds(500);
  // The most lease time may be held back while registryd is behind.
  Duration max_hold = std::chrono::seconds(60);
  // After registryd reset client connections (they held requests it could
  // not read in time), it counts as behind this much longer: a reset empties
  // the queues, so it looks caught up before those clients renewed again,
  // and a hold that ended at every reset would let leases run out between
  // resets.
  Duration after_shed = Duration::zero();
};

// What one queue's alarm says when it fires.
struct AlarmReport {
  uint32_t queue = 0;
  // When it was due, in Unheld() time as it was when the alarm was set (a
  // stall since then does not make the alarm late).
  TimePoint due;
  // The earliest deadline (monotonic clock) of a call the queue got more than
  // late_bound after it, since its last report.
  std::optional<TimePoint> late_call_deadline;
  // How long the oldest request unread in the kernel's receive queues has
  // waited (core/receive_backlog.h), when this alarm sampled them.
  std::optional<Duration> unread_wait;
  // It reset client connections for that (core/disconnect_sockets.h).
  bool shed = false;
  // When the oldest of registryd's renewal probes that still waits for its
  // answer was sent, in Running() time (server/renewal_probe.h).
  std::optional<TimePoint> probe_sent;
};

// Counts for /metrics.
struct LeaseClockStats {
  uint64_t stalls = 0;
  Duration stalled{0};        // every lease was extended by this much for stalls
  uint64_t holds = 0;         // times registryd fell behind and expiry held
  uint64_t holds_capped = 0;  // holds that reached max_hold
  Duration held{0};           // every lease was extended by this much for holds
  Duration hold{0};           // how far lease time is held back now
  Duration longest_hold{0};
};

class LeaseClock final : public Clock {
 public:
  // `base`: the monotonic clock; `cpu`: the process's CPU time.
  LeaseClock(const Clock& base, const Clock& cpu, const LeaseClockOptions& options);

  TimePoint Now() const override {
    const int64_t limit = limit_ns_.load(std::memory_order_acquire);
    return std::min(Unheld(), FromNs(limit));
  }
  // Lease time with no hold: the monotonic clock less the stalls and the
  // holds that ended (it steps back when one ends).
  TimePoint Unheld() const { return base_.Now() - Duration(credit_ns_.load(std::memory_order_relaxed)); }
  // The time registryd ran: the monotonic clock less the stalls only. How
  // long a probe waited is measured on it: a stall is no wait, a hold is.
  TimePoint Running() const { return base_.Now() - Duration(stalled_ns_.load(std::memory_order_relaxed)); }

  // From now on the queues' alarms decide: each queue's frontier starts here.
  // Until then nothing is held (a data dir's restore runs before).
  void Start();
  // A queue's alarm fired (on that queue's thread). Logs a stall, and the
  // start and end of a hold.
  void Observe(const AlarmReport& report);

  LeaseClockStats stats() const;
  const LeaseClockOptions& options() const { return options_; }

 private:
  static TimePoint FromNs(int64_t ns) { return TimePoint(Duration(ns)); }
  static int64_t NsOf(TimePoint time) { return time.time_since_epoch().count(); }
  // Starts, continues or ends a hold, as registryd is `behind` or not;
  // returns the credit after it.
  Duration Hold(bool behind, Duration lateness, TimePoint unheld, Duration credit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the hold as of `ended_at` (Unheld() time); returns how long it held.
  Duration EndHold(TimePoint ended_at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& base_;
  const Clock& cpu_;
  const LeaseClockOptions options_;
  std::atomic<int64_t> credit_ns_{0};
  std::atomic<int64_t> stalled_ns_{0};  // the part of the credit that stalls made
  // How far lease time may run, in Unheld() time; no hold before Start().
  std::atomic<int64_t> limit_ns_{INT64_MAX};

  mutable Mutex mu_;
  std::vector<TimePoint> frontiers_ ABSL_GUARDED_BY(mu_);  // per queue, in Unheld() time
  // Behind until then (monotonic clock): late_bound after any queue's last
  // late report, after_shed after the last reset.
  TimePoint behind_until_ ABSL_GUARDED_BY(mu_) = TimePoint::min();
  TimePoint last_report_ ABSL_GUARDED_BY(mu_);             // monotonic clock
  TimePoint last_report_cpu_ ABSL_GUARDED_BY(mu_);
  std::optional<TimePoint> held_at_ ABSL_GUARDED_BY(mu_);  // lease time while a hold lasts
  // Lease time before this was credited (a stall, a hold), or ran on past a
  // capped hold: a hold reaches back no further.
  TimePoint earliest_hold_start_ ABSL_GUARDED_BY(mu_);
  bool capped_ ABSL_GUARDED_BY(mu_) = false;  // a hold reached max_hold: none until caught up
  LeaseClockStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace registryd
