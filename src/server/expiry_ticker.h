// Advances the timer wheels of the shards whose home is one queue, from a
// grpc::Alarm on that queue: lease expiry runs on the queue threads, with no
// reaper thread. A wake does at most one full batch (of one shard): when a
// mass expiry leaves work, the alarm is set to fire at once, so other calls
// on the queue get their turn between batches.
//
// Each wake first tells the lease clock when it was due (and of calls that
// came late, and, on one queue, how long requests wait unread in the kernel
// and how long registryd's own renewal probe has waited), so a stall or a
// backlog holds lease time before anything is expired (core/lease_clock.h).
// The one that samples the kernel's receive queues also resets connections
// whose requests wait there too long (core/disconnect_sockets.h); each resets
// the connections whose answers its queue's calls handed to gRPC wait unsent
// as long (server/queue/unsent_answers.h).
#pragma once

#include <vector>

#include <grpcpp/alarm.h>

#include "core/registry.h"
#include "core/registry_writer.h"
#include "core/activity_summary.h"
#include "core/lease_clock.h"
#include "core/receive_backlog.h"
#include "core/queue_event.h"
#include "server/queue/serving_queue.h"
#include "server/renewal_probe.h"

namespace registryd {

// What a queue's ticker does besides expiry; each may be absent.
struct TickerDuties {
  // The first queue's.
  ActivitySummary* summary = nullptr;
  ReceiveBacklog* backlog = nullptr;
  std::vector<RenewalProbe*> probes;  // on this ticker's queue
  // Every queue's: reset the connections to `port` (registryd's) whose
  // answers have waited unsent longer than `unsent_after` (max: never).
  uint16_t port = 0;
  Duration unsent_after = Duration::max();
};

// How long the alarm for lease time `when` waits, lease time being `now`: at
// most one tick. Lease time stands still through a hold and steps back when
// one reaches back to the wait it saw (core/lease_clock.h), so a distance in
// lease time is none in real time: after such a step the wheels' next tick
// lies that far ahead of lease time. A queue looks at its wheels at least
// once a tick, and a closed session's instances (removed by the next wake)
// go within one.
Duration AlarmDelay(TimePoint when, TimePoint now, Duration tick);

class ExpiryTicker final : public QueueEvent {
 public:
  ExpiryTicker(RegistryWriter& writer, LeaseClock& lease_clock, ServingQueue& queue, std::vector<uint32_t> shards,
               TickerDuties duties = {});

  void Start();
  // Only inside ServingQueue::Close(): cancelling delivers the tag with ok=false.
  void Cancel() { alarm_.Cancel(); }
  void Proceed(bool ok) override;

 private:
  void Arm(TimePoint when);
  // How long requests wait unread, every --stall-threshold; resets the
  // connections where they waited longer than --shed-unread-after.
  // `shed`: whether it reset any.
  std::optional<Duration> SampleBacklog(bool& shed);
  // Returns whether it reset any.
  bool Shed(const std::vector<uint64_t>& stale, Duration oldest, TimePoint now);
  // Every half unsent_after: resets the connections whose answers have
  // waited unsent longer, unless this wake came `late` by over half that or
  // registryd stalled within unsent_after.
  void ResetUnsent(TimePoint now, Duration late);
  // Sends the probes that are due; when the oldest still waiting was sent.
  std::optional<TimePoint> Probe();

  // Resets of one kind: a line at most every 10 s, with how many since the last.
  class ResetCount {
   public:
    // Counts `reset` at `now`; when a line is due, how many to report.
    std::optional<uint64_t> Add(size_t reset, TimePoint now);

   private:
    TimePoint next_line_;
    uint64_t since_line_ = 0;
  };

  RegistryWriter& writer_;
  Registry& registry_;
  LeaseClock& lease_clock_;
  ServingQueue& queue_;
  const std::vector<uint32_t> shards_;
  ActivitySummary* const summary_;
  ReceiveBacklog* backlog_;  // null once it could not be read
  const std::vector<RenewalProbe*> probes_;
  TimePoint next_backlog_sample_;
  ResetCount shed_;
  const uint16_t port_;
  const Duration unsent_after_;
  TimePoint next_unsent_check_;
  Duration stalled_seen_{0};  // the lease clock's stalls, as of the last look
  ResetCount reset_unsent_;
  grpc::Alarm alarm_;
  size_t next_shard_ = 0;         // where the next wake starts
  TimePoint due_;                 // of the alarm set, in the lease clock's Unheld() time
};

}  // namespace registryd
