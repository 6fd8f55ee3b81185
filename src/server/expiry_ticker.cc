#include "server/expiry_ticker.h"

#include <algorithm>
#include <utility>

#include "core/disconnect_sockets.h"
#include "core/log.h"
#include "metrics/thread_metrics.h"

namespace registryd {

ExpiryTicker::ExpiryTicker(RegistryWriter& writer, LeaseClock& lease_clock, ServingQueue& queue,
                           std::vector<uint32_t> shards, TickerDuties duties)
    : writer_(writer),
      registry_(writer.registry()),
      lease_clock_(lease_clock),
      queue_(queue),
      shards_(std::move(shards)),
      summary_(duties.summary),
      backlog_(duties.backlog),
      probes_(std::move(duties.probes)),
      port_(duties.port),
      unsent_after_(duties.unsent_after) {}

std::optional<TimePoint> ExpiryTicker::Probe() {
  std::optional<TimePoint> oldest;
  for (RenewalProbe* probe : probes_) {
    probe->SendIfDue();
    const std::optional<TimePoint> since = probe->waiting_since();
    if (since && (!oldest || *since < *oldest)) oldest = since;
  }
  return oldest;
}

std::optional<Duration> ExpiryTicker::SampleBacklog(bool& shed) {
  if (backlog_ == nullptr) return std::nullopt;
  const TimePoint now = std::chrono::steady_clock::now();
  if (now < next_backlog_sample_) return std::nullopt;
  // A sample costs the kernel a walk of its TCP table (about a millisecond
  // on a machine with 24 GiB): once per --stall-threshold, or twice per
  // --shed-unread-after if that is more often, so a connection is reset
  // within 1.5 times that bound rather than twice it.
  next_backlog_sample_ = now + std::min(lease_clock_.options().late_bound, backlog_->stale_after() / 2);
  absl::StatusOr<BacklogSample> sample = backlog_->Sample(now);
  if (!sample.ok()) {
    log::Warn("{}; requests waiting unread in the kernel will not count as registryd being behind",
              std::string(sample.status().message()));
    backlog_ = nullptr;
    return std::nullopt;
  }
  if (!sample->stale.empty()) shed = Shed(sample->stale, sample->oldest, now);
  return sample->oldest;
}

bool ExpiryTicker::Shed(const std::vector<uint64_t>& stale, Duration oldest, TimePoint now) {
  const size_t reset = DisconnectSockets(stale);
  metrics::Local().connections_shed.Add(reset);
  if (const std::optional<uint64_t> count = shed_.Add(reset, now)) {
    log::Warn("registryd is behind: reset {} client connection(s) whose requests had waited unread for {:.1f}s "
              "(over --shed-unread-after); their clients reconnect and call again",
              *count, std::chrono::duration<double>(oldest).count());
  }
  return reset > 0;
}

void ExpiryTicker::ResetUnsent(TimePoint now, Duration late) {
  if (unsent_after_ == Duration::max() || now < next_unsent_check_) return;
  next_unsent_check_ = now + unsent_after_ / 2;  // reset within 1.5 times the bound
  // A queue this far behind has not yet taken the reports of answers sent
  // meanwhile: what it knows is too old to blame a client for.
  if (late > unsent_after_ / 2) return;
  // Nor after a stall (any queue's alarm credits it): every answer handed
  // over before it looks long unsent, and the reports of those sent since may
  // still be on their way. Look again once the bound has passed after it.
  if (const Duration stalled = lease_clock_.stats().stalled; stalled != stalled_seen_) {
    stalled_seen_ = stalled;
    next_unsent_check_ = now + unsent_after_;
    return;
  }
  std::vector<std::string> peers;
  {
    // At shutdown a call's writer may end it on another thread, under the guard.
    ServingQueue::StartGuard guard(queue_);
    if (!guard.accepting()) return;
    peers = queue_.unsent_answers().PeersWaitingSince(now - unsent_after_);
  }
  if (peers.empty()) return;
  const size_t reset =
      DisconnectPeers(port_, peers, std::chrono::duration_cast<std::chrono::milliseconds>(unsent_after_));
  metrics::Local().connections_reset_unsent.Add(reset);
  if (const std::optional<uint64_t> count = reset_unsent_.Add(reset, now)) {
    log::Warn("reset {} client connection(s) whose answers had waited unsent for over {:.1f}s "
              "(--shed-unread-after): clients that stopped reading, or gRPC holding their writes; they reconnect "
              "and call again",
              *count, std::chrono::duration<double>(unsent_after_).count());
  }
}

std::optional<uint64_t> ExpiryTicker::ResetCount::Add(size_t reset, TimePoint now) {
  since_line_ += reset;
  if (now < next_line_ || since_line_ == 0) return std::nullopt;
  next_line_ = now + std::chrono::seconds(10);
  return std::exchange(since_line_, 0);
}

void ExpiryTicker::Start() { Arm(registry_.clock().Now() + registry_.options().tick); }

Duration AlarmDelay(TimePoint when, TimePoint now, Duration tick) {
  return std::clamp(when - now, Duration::zero(), tick);
}

void ExpiryTicker::Arm(TimePoint when) {
  const Duration delay = AlarmDelay(when, registry_.clock().Now(), registry_.options().tick);
  due_ = lease_clock_.Unheld() + delay;
  const gpr_timespec deadline = gpr_time_add(
      gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(delay.count(), GPR_TIMESPAN));
  ServingQueue::StartGuard guard(queue_);
  if (guard.accepting()) alarm_.Set(queue_.cq(), deadline, this);
}

void ExpiryTicker::Proceed(bool ok) {
  if (!ok) return;  // cancelled at shutdown
  bool shed = false;
  const std::optional<Duration> unread_wait = SampleBacklog(shed);
  ResetUnsent(std::chrono::steady_clock::now(), lease_clock_.Unheld() - due_);
  lease_clock_.Observe(AlarmReport{queue_.index(), due_, queue_.TakeLateCall(), unread_wait, shed, Probe()});
  TimePoint next = TimePoint::max();
  // The shards in turn, from where the last wake stopped. A shard that
  // filled its batch ends the wake (the next one comes at once and goes on
  // from the following shard): a mass expiry costs each wake one batch, not
  // one per shard of the queue.
  for (size_t visited = 0; visited < shards_.size(); ++visited) {
    const uint32_t shard = shards_[next_shard_];
    next_shard_ = (next_shard_ + 1) % shards_.size();
    if (writer_.Expire(shard)) {
      next = registry_.clock().Now();
      break;
    }
    next = std::min(next, registry_.NextTickTime(shard));
  }
  const TimePoint now = registry_.clock().Now();
  if (summary_ != nullptr) {
    if (std::optional<std::string> line = summary_->Due(now)) log::Info("{}", *line);
  }
  // At least once a tick, shards or not: a queue may own none (a data dir
  // keeps the shard count it was made with, and --threads may be more), and
  // its reports still set how far lease time may run (core/lease_clock.h).
  Arm(std::min(next, now + registry_.options().tick));
}

}  // namespace registryd
