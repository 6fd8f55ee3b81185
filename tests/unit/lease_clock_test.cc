// The lease clock on manual clocks: a queue's alarms are simulated as the
// ExpiryTicker sets and reports them, and the registry runs on the result.
#include "core/lease_clock.h"

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/registry.h"
#include "test_specs.h"

namespace registryd {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::DiscoveredIds;
using test::ExpireDue;
using test::NativeSpec;
using Ids = std::vector<std::string>;

constexpr Duration kTick = milliseconds(100);
constexpr Duration kLateBound = milliseconds(500);
constexpr Duration kMaxHold = seconds(10);

LeaseClockOptions ClockOptions(uint32_t queues = 1) {
  LeaseClockOptions options;
  options.queues = queues;
  options.late_bound = kLateBound;
  options.max_hold = kMaxHold;
  return options;
}

RegistryOptions SmallRegistry() {
  RegistryOptions options;
  options.default_ttl = seconds(3);
  options.tick = kTick;
  options.wheel_slots = 64;
  options.shard_count = 1;
  options.expiry_batch = 100;
  return options;
}

// One process with `queues` completion queues, each with its expiry alarm.
class LeaseClockTest : public ::testing::Test {
 protected:
  explicit LeaseClockTest(uint32_t queues = 1)
      : lease_clock_(base_, cpu_, ClockOptions(queues)), registry_(SmallRegistry(), lease_clock_), due_(queues) {
    lease_clock_.Start();
    for (uint32_t queue = 0; queue < queues; ++queue) Arm(queue);
  }

  // The ticker sets its alarm one tick ahead.
  void Arm(uint32_t queue) { due_[queue] = lease_clock_.Unheld() + kTick; }
  // `queue`'s alarm fires now: it reports, expires what is due, and is set again.
  std::vector<Removal> Fire(uint32_t queue = 0, std::optional<TimePoint> late_call = std::nullopt) {
    lease_clock_.Observe(AlarmReport{queue, due_[queue], late_call, std::nullopt, false, std::nullopt});
    Arm(queue);
    return ExpireDue(registry_);
  }
  // Serving normally for `duration`: every alarm on time, the process using
  // `busy` of a core. Returns what expired.
  std::vector<Removal> Serve(Duration duration, double busy = 0.3) {
    std::vector<Removal> expired;
    for (Duration served{0}; served < duration; served += kTick) {
      base_.Advance(kTick);
      cpu_.Advance(std::chrono::duration_cast<Duration>(kTick * busy));
      for (uint32_t queue = 0; queue < due_.size(); ++queue) {
        for (Removal& removal : Fire(queue)) expired.push_back(std::move(removal));
      }
    }
    return expired;
  }
  // Behind for `duration`: every alarm `late` after it was due, the process
  // busy on every queue. `renew` runs before each alarm (the calls queued
  // ahead of it). Returns what expired.
  template <typename Renew>
  std::vector<Removal> Overloaded(Duration duration, Duration late, Renew&& renew) {
    std::vector<Removal> expired;
    for (Duration served{0}; served < duration; served += kTick) {
      base_.Advance(kTick);
      cpu_.Advance(kTick * static_cast<int64_t>(due_.size()));
      renew();
      for (uint32_t queue = 0; queue < due_.size(); ++queue) {
        // The alarm set a tick ago fires `late` after it was due.
        lease_clock_.Observe(AlarmReport{queue, lease_clock_.Unheld() - late, std::nullopt, std::nullopt, false, std::nullopt});
        Arm(queue);
      }
      for (Removal& removal : ExpireDue(registry_)) expired.push_back(std::move(removal));
    }
    return expired;
  }
  // Every alarm on time for `duration` while a renewal probe sent at
  // `probe_sent` (Running() time) waits unanswered. Returns what expired.
  std::vector<Removal> ProbeWaits(Duration duration, TimePoint probe_sent) {
    std::vector<Removal> expired;
    for (Duration waited{0}; waited < duration; waited += kTick) {
      base_.Advance(kTick);
      cpu_.Advance(kTick);
      lease_clock_.Observe(AlarmReport{0, due_[0], std::nullopt, std::nullopt, false, probe_sent});
      Arm(0);
      for (Removal& removal : ExpireDue(registry_)) expired.push_back(std::move(removal));
    }
    return expired;
  }
  // One alarm, on time, a tick from now, that found requests unread in the
  // kernel for `unread_wait`.
  std::vector<Removal> Unread(Duration unread_wait) {
    base_.Advance(kTick);
    cpu_.Advance(kTick);
    lease_clock_.Observe(AlarmReport{0, due_[0], std::nullopt, unread_wait, false, std::nullopt});
    Arm(0);
    return ExpireDue(registry_);
  }
  // The process does not run for `length` (SIGSTOP): no alarm, no CPU.
  void Stop(Duration length) { base_.Advance(length); }

  LeaseId Register(const std::string& id, Duration ttl = seconds(3)) {
    const absl::StatusOr<RegisterResult> result = registry_.Register(NativeSpec("orders", id, ttl));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->lease : kNoLease;
  }

  ManualClock base_;
  ManualClock cpu_{TimePoint{}};
  LeaseClock lease_clock_;
  Registry registry_;
  std::vector<TimePoint> due_;  // each queue's alarm, in Unheld() time
};

TEST_F(LeaseClockTest, OnTimeAlarmsHoldNothing) {
  const TimePoint start = lease_clock_.Now();
  Serve(seconds(5));
  EXPECT_EQ(lease_clock_.Now() - start, seconds(5));
  EXPECT_EQ(lease_clock_.Now(), base_.Now());
  const LeaseClockStats stats = lease_clock_.stats();
  EXPECT_EQ(stats.stalls, 0u);
  EXPECT_EQ(stats.holds, 0u);
  EXPECT_EQ(stats.hold, Duration::zero());
}

TEST_F(LeaseClockTest, NothingIsHeldBeforeStart) {
  ManualClock base;
  ManualClock cpu{TimePoint{}};
  LeaseClock unstarted(base, cpu, ClockOptions());
  base.Advance(seconds(30));
  EXPECT_EQ(unstarted.Now(), base.Now());
}

TEST_F(LeaseClockTest, AStallExtendsEveryLeaseByItsLength) {
  // The case: 3 s TTLs, renewed every 0.5 s, and a 5 s SIGSTOP.
  std::vector<LeaseId> leases;
  for (int i = 0; i < 50; ++i) leases.push_back(Register("server-" + std::to_string(i)));
  const auto renew_all = [&] {
    for (const LeaseId lease : leases) ASSERT_TRUE(registry_.Heartbeat(lease, false).ok());
  };
  for (int round = 0; round < 4; ++round) {
    EXPECT_TRUE(Serve(milliseconds(500)).empty());
    renew_all();
  }
  Stop(seconds(5));
  // Before any alarm: the renewals that waited through the stall are
  // answered first, and find every lease.
  renew_all();
  EXPECT_TRUE(Fire().empty());
  for (int round = 0; round < 4; ++round) {
    EXPECT_TRUE(Serve(milliseconds(500)).empty());
    renew_all();
  }
  EXPECT_EQ(DiscoveredIds(registry_, "orders").size(), 50u);
  EXPECT_EQ(registry_.Totals().expired, 0u);
  const LeaseClockStats stats = lease_clock_.stats();
  EXPECT_EQ(stats.stalls, 1u);
  EXPECT_GE(stats.stalled, seconds(5));
  EXPECT_LE(stats.stalled, seconds(5) + kTick);
}

TEST_F(LeaseClockTest, AStallOfAnyLengthExpiresNothingRenewed) {
  const LeaseId lease = Register("long", seconds(60));
  Serve(seconds(50));
  ASSERT_TRUE(registry_.Heartbeat(lease, false).ok());
  Stop(std::chrono::minutes(2));
  ASSERT_TRUE(registry_.Heartbeat(lease, false).ok()) << "the renewal sent during the stall";
  EXPECT_TRUE(Fire().empty());
  EXPECT_TRUE(Serve(seconds(50)).empty());
  EXPECT_EQ(DiscoveredIds(registry_, "orders"), Ids{"long"});
}

TEST_F(LeaseClockTest, ALeaseWhoseClientStoppedExpiresAtItsTtlPlusTheStall) {
  Register("stopped");  // 3 s, never renewed
  Serve(seconds(1));
  Stop(seconds(5));
  EXPECT_TRUE(Fire().empty()) << "2 s of its TTL were left when registryd stopped";
  EXPECT_TRUE(Serve(seconds(2) - kTick).empty());
  // TTL plus the stall after its registration, within a tick or two.
  const std::vector<Removal> expired = Serve(kTick * 3);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(registry_.Totals().expired, 1u);
  EXPECT_EQ(DiscoveredIds(registry_, "orders"), Ids{});
}

TEST_F(LeaseClockTest, BeforeAnyAlarmAfterAStallLeaseTimeStopsAtTheLateBound) {
  const TimePoint before = lease_clock_.Now();
  Stop(seconds(30));
  EXPECT_LE(lease_clock_.Now(), before + kLateBound) << "the hot path must not see the stall as time passed";
  EXPECT_GT(lease_clock_.stats().hold, Duration::zero()) << "the scrape shows the queues silent";
}

TEST_F(LeaseClockTest, ALongGapWhileBusyIsNoStall) {
  // The queue did not get to its alarm for 2 s because it was busy: not a
  // stall (nothing is credited) but a hold.
  base_.Advance(seconds(2));
  cpu_.Advance(seconds(2));
  Fire();
  const LeaseClockStats stats = lease_clock_.stats();
  EXPECT_EQ(stats.stalls, 0u);
  EXPECT_EQ(stats.holds, 1u);
}

TEST_F(LeaseClockTest, BehindHoldsExpiryUntilTheQueuesCatchUp) {
  // registryd falls 2 s behind for 8 s, and the renewals of its lease wait
  // in the backlog until their client gives up on them: none is handled.
  // Nothing expires, and after the hold the client's next renewal finds it.
  const LeaseId lease = Register("busy");
  Serve(seconds(1));
  EXPECT_TRUE(Overloaded(seconds(8), seconds(2), [] {}).empty());
  LeaseClockStats stats = lease_clock_.stats();
  EXPECT_EQ(stats.holds, 1u);
  EXPECT_EQ(stats.holds_capped, 0u);
  // The first late alarm's wait began 2 s before it: the hold goes back
  // there, to the clock's start, and holds the second served before too.
  EXPECT_EQ(stats.hold, seconds(9));

  // On time again, for the late bound: the hold ends, and every lease is
  // extended by it.
  EXPECT_TRUE(Serve(kLateBound + kTick).empty());
  stats = lease_clock_.stats();
  EXPECT_EQ(stats.hold, Duration::zero());
  EXPECT_EQ(stats.held, seconds(9) + kLateBound);
  EXPECT_TRUE(registry_.Heartbeat(lease, false).ok());
  EXPECT_EQ(DiscoveredIds(registry_, "orders"), Ids{"busy"});
}

TEST_F(LeaseClockTest, ALeaseWhoseClientStoppedExpiresAtItsTtlPlusTheHold) {
  Register("stopped");  // 3 s, never renewed
  Serve(seconds(1));
  Overloaded(seconds(4), milliseconds(600), [] {});
  // The hold went back 0.6 s, to where the first late alarm's wait began,
  // and ends after the late bound on time: 2.5 s of the TTL are left.
  EXPECT_TRUE(Serve(kLateBound + milliseconds(2500) - kTick).empty());
  EXPECT_EQ(registry_.Totals().expired, 0u) << "held " << lease_clock_.stats().held.count();
  std::vector<Removal> expired = Serve(kTick * 3);
  EXPECT_EQ(expired.size(), 1u);
  EXPECT_EQ(DiscoveredIds(registry_, "orders"), Ids{});
}

TEST_F(LeaseClockTest, AHoldIsBoundedByMaxHold) {
  Register("silent");  // its client stopped: only the bound lets it expire
  Serve(seconds(1));
  // 40 s of alarms 30 s late: far more than --max-hold (10 s).
  const std::vector<Removal> expired = Overloaded(seconds(40), seconds(30), [] {});
  const LeaseClockStats stats = lease_clock_.stats();
  EXPECT_EQ(stats.holds, 1u) << "no second hold before registryd caught up";
  EXPECT_EQ(stats.holds_capped, 1u);
  EXPECT_GE(stats.held, kMaxHold);
  EXPECT_LE(stats.held, kMaxHold + kTick);
  EXPECT_EQ(stats.hold, Duration::zero()) << "lease time runs on while it is still behind";
  EXPECT_EQ(expired.size(), 1u) << "its TTL plus the hold passed";
  EXPECT_LE(lease_clock_.Unheld() - lease_clock_.Now(), kLateBound);

  // Caught up: a later fall behind holds again.
  Serve(seconds(1));
  Overloaded(seconds(2), seconds(2), [] {});
  EXPECT_EQ(lease_clock_.stats().holds, 2u);
}

TEST_F(LeaseClockTest, ALateCallHoldsLikeALateAlarm) {
  Serve(seconds(1));
  // The alarm is on time, but the queue handled a call 3 s past its deadline.
  base_.Advance(kTick);
  cpu_.Advance(kTick);
  Fire(0, base_.Now() - seconds(3));
  EXPECT_EQ(lease_clock_.stats().holds, 1u);
  const TimePoint held = lease_clock_.Now();
  Serve(kLateBound - kTick);
  EXPECT_EQ(lease_clock_.Now(), held) << "lease time stands while the hold lasts";
  // On time, with no late call, for the late bound: it ends.
  Serve(kTick * 2);
  const LeaseClockStats stats = lease_clock_.stats();
  EXPECT_EQ(stats.hold, Duration::zero());
  EXPECT_GE(stats.held, kLateBound);
  EXPECT_GT(lease_clock_.Now(), held);
}

TEST_F(LeaseClockTest, RequestsWaitingUnreadInTheKernelHoldLikeALateAlarm) {
  Serve(seconds(1));
  base_.Advance(kTick);
  cpu_.Advance(kTick);
  lease_clock_.Observe(AlarmReport{0, due_[0], std::nullopt, seconds(2), false, std::nullopt});
  Arm(0);
  EXPECT_EQ(lease_clock_.stats().holds, 1u);
  const TimePoint held = lease_clock_.Now();
  Serve(kLateBound - kTick);
  EXPECT_EQ(lease_clock_.Now(), held);
}

TEST_F(LeaseClockTest, AHoldGoesBackToWhereTheWaitItSawBegan) {
  Serve(seconds(3));
  const TimePoint before = lease_clock_.Now();
  Unread(seconds(2));
  EXPECT_EQ(lease_clock_.stats().holds, 1u);
  EXPECT_EQ(lease_clock_.Now(), before + kTick - seconds(2)) << "where the oldest unread request came";
  // Caught up: every lease is extended by the wait and the hold after it.
  Serve(kLateBound + kTick);
  EXPECT_EQ(lease_clock_.stats().hold, Duration::zero());
  EXPECT_EQ(lease_clock_.stats().held, seconds(2) + kLateBound);
}

TEST_F(LeaseClockTest, AHoldReachesBackNoFurtherThanTheLastStall) {
  // The requests waited through a stall: the stall is credited as such,
  // and the hold starts where lease time stood when the stall began.
  Serve(seconds(3));
  const TimePoint before = lease_clock_.Now();
  Stop(seconds(4));
  lease_clock_.Observe(AlarmReport{0, due_[0], std::nullopt, seconds(5), false, std::nullopt});
  Arm(0);
  const LeaseClockStats stats = lease_clock_.stats();
  EXPECT_EQ(stats.stalls, 1u);
  EXPECT_EQ(stats.stalled, seconds(4));
  EXPECT_EQ(stats.holds, 1u);
  EXPECT_EQ(lease_clock_.Now(), before);
}

TEST_F(LeaseClockTest, AHoldReachesBackNoFurtherThanTheLastHoldsEnd) {
  // A probe sent before the first hold still waits after it ended: the
  // second hold starts where the first left lease time, crediting nothing twice.
  Serve(seconds(1));
  const TimePoint probe_sent = lease_clock_.Running();
  Overloaded(seconds(2), seconds(1), [] {});
  while (lease_clock_.stats().hold > Duration::zero()) Serve(kTick);
  const Duration first = lease_clock_.stats().held;
  const TimePoint resumed_at = lease_clock_.Now();
  base_.Advance(kTick);
  cpu_.Advance(kTick);
  lease_clock_.Observe(AlarmReport{0, due_[0], std::nullopt, std::nullopt, false, probe_sent});
  Arm(0);
  EXPECT_EQ(lease_clock_.stats().holds, 2u);
  EXPECT_EQ(lease_clock_.Now(), resumed_at);
  Serve(kLateBound + kTick);  // the probe answered: caught up
  EXPECT_EQ(lease_clock_.stats().hold, Duration::zero());
  EXPECT_EQ(lease_clock_.stats().held - first, kTick + kLateBound) << "the second hold's own time only";
}

TEST_F(LeaseClockTest, ShortWaitsSeenLateDoNotAddUpToAnExpiry) {
  // ROBUSTNESS.md finding 8: a long overload made of short episodes. In
  // each, renewals wait unseen (every alarm on time, no unread bytes
  // sampled yet) from the moment the last hold ended, until the sampler
  // finds them 0.8 s old; the client gives up on each renewal before
  // registryd reads it. Lease time that ran before each wait was seen (0.7
  // s an episode) would add up past the 2 s TTL in the second; a hold that
  // starts where the wait began leaves none of it.
  Register("waiting", seconds(2));
  Serve(seconds(1));
  for (int episode = 0; episode < 8; ++episode) {
    EXPECT_TRUE(Serve(milliseconds(600)).empty()) << episode;  // waiting, not yet seen
    EXPECT_TRUE(Unread(milliseconds(800)).empty()) << episode;
    EXPECT_TRUE(Serve(kLateBound + kTick).empty()) << episode;  // caught up: the hold ends, a tick before this
  }
  EXPECT_EQ(lease_clock_.stats().holds, 8u);
  EXPECT_EQ(DiscoveredIds(registry_, "orders"), Ids{"waiting"});
}

TEST_F(LeaseClockTest, ARenewalProbeWaitingPastTheBoundHoldsThoughEveryAlarmIsOnTime) {
  // The calls gRPC read but no handler took yet: the alarms run on time,
  // no call is late yet, nothing waits in the kernel; only the probe that
  // waits behind those calls shows it. A lease whose renewal waits there
  // survives any such wait below max_hold.
  const LeaseId lease = Register("waiting", seconds(1));
  EXPECT_TRUE(ProbeWaits(seconds(5), lease_clock_.Running()).empty());
  EXPECT_EQ(lease_clock_.stats().holds, 1u);
  ASSERT_TRUE(registry_.Heartbeat(lease, false).ok());  // its renewal, handled at last
  // Answered: the hold ends a late_bound later, and the lease runs its TTL from the renewal.
  EXPECT_TRUE(Serve(kLateBound + seconds(1) - kTick).empty());
  EXPECT_EQ(lease_clock_.stats().hold, Duration::zero());
  EXPECT_EQ(Serve(seconds(1)).size(), 1u);
}

TEST_F(LeaseClockTest, ARenewalProbeThatWaitedThroughAStallDoesNotHold) {
  // The probe waited because the process did not run: a stall, credited as
  // such, not a backlog.
  Serve(seconds(1));
  const TimePoint probe_sent = lease_clock_.Running();
  Stop(seconds(5));
  lease_clock_.Observe(AlarmReport{0, due_[0], std::nullopt, std::nullopt, false, probe_sent});
  Arm(0);
  EXPECT_EQ(lease_clock_.stats().stalls, 1u);
  EXPECT_EQ(lease_clock_.stats().holds, 0u);
}

TEST_F(LeaseClockTest, AProbeSentDuringAHoldStillCountsAfterTheHoldEnds) {
  // The end of a hold credits it, so lease time (Unheld) steps back by its
  // length; a probe's wait is on Running() time, which does not.
  Overloaded(seconds(3), seconds(1), [] {});
  ProbeWaits(seconds(1), lease_clock_.Running());
  // The first hold ended a late_bound after the overload; the probe, still
  // unanswered past the bound, started the next.
  EXPECT_EQ(lease_clock_.stats().holds, 2u);
  EXPECT_GT(lease_clock_.stats().hold, Duration::zero());
}

TEST_F(LeaseClockTest, AResetOfClientConnectionsHoldsUntilTheirClientsCouldRenew) {
  // Every 1.5 s registryd resets the connections whose requests waited
  // too long, and in between it looks caught up (the reset emptied the
  // queues), while the reset clients have not renewed yet. With after_shed
  // the hold bridges the resets; the lease of a client that renews only
  // between them never runs out.
  LeaseClockOptions options = ClockOptions();
  options.after_shed = seconds(2);
  LeaseClock lease_clock(base_, cpu_, options);
  lease_clock.Start();
  Registry registry(SmallRegistry(), lease_clock);
  ASSERT_TRUE(registry.Register(NativeSpec("orders", "reset", seconds(3))).ok());
  TimePoint due = lease_clock.Unheld() + kTick;
  const auto alarm = [&](bool shed) {
    base_.Advance(kTick);
    cpu_.Advance(kTick);
    lease_clock.Observe(AlarmReport{0, due, std::nullopt, shed ? std::optional(seconds(1)) : std::nullopt, shed, std::nullopt});
    due = lease_clock.Unheld() + kTick;
    return ExpireDue(registry);
  };
  alarm(false);
  for (int reset = 0; reset < 6; ++reset) {  // 9 s, three TTLs (within --max-hold), with no renewal
    EXPECT_TRUE(alarm(true).empty());
    for (Duration between{0}; between < std::chrono::milliseconds(1500) - kTick; between += kTick) {
      EXPECT_TRUE(alarm(false).empty()) << "reset " << reset;
    }
  }
  EXPECT_EQ(lease_clock.stats().holds, 1u) << "one hold across every reset";

  // The resets stop: the hold ends after_shed after the last one, and lease
  // time runs on; a lease nobody renews expires in its TTL after that.
  for (Duration after{0}; after < seconds(2); after += kTick) alarm(false);
  EXPECT_EQ(lease_clock.stats().hold, Duration::zero());
  std::vector<Removal> expired;
  for (Duration after{0}; after < seconds(4); after += kTick) {
    for (Removal& removal : alarm(false)) expired.push_back(std::move(removal));
  }
  EXPECT_EQ(expired.size(), 1u);
}

TEST_F(LeaseClockTest, ACallThatWaitedThroughAStallIsNotLate) {
  // Calls sent during a stall reach registryd after it, past their
  // deadlines: the stall is credited, and they do not make it "behind".
  Serve(seconds(1));
  const TimePoint deadline = base_.Now() + seconds(1);
  Stop(seconds(5));
  base_.Advance(kTick);
  cpu_.Advance(kTick);
  Fire(0, deadline);
  const LeaseClockStats stats = lease_clock_.stats();
  EXPECT_EQ(stats.stalls, 1u);
  EXPECT_EQ(stats.holds, 0u);
}

TEST_F(LeaseClockTest, LeaseTimeNeverRunsAhead) {
  // Whatever the alarms say, lease time never runs ahead of the monotonic
  // clock, and never goes back between two alarms.
  TimePoint last = lease_clock_.Now();
  for (int step = 0; step < 200; ++step) {
    const Duration advance = milliseconds((step * 37) % 700);
    base_.Advance(advance);
    if (step % 3 != 0) cpu_.Advance(advance);
    const TimePoint now = lease_clock_.Now();
    EXPECT_GE(now, last) << step;
    EXPECT_LE(now, base_.Now()) << step;
    last = now;
    if (step % 5 != 4) {
      Fire();
      last = lease_clock_.Now();  // an alarm may step back (a stall)
    }
  }
}

TEST_F(LeaseClockTest, WhatFellDueDuringAHoldExpiresInBatchesLater) {
  // 1 000 leases whose clients stop while registryd is behind: they expire
  // their TTL plus the hold after they were registered, 100 (the batch) per
  // wheel advance, not at the end of the hold.
  for (int i = 0; i < 1000; ++i) Register("quiet-" + std::to_string(i));
  const TimePoint registered = base_.Now();
  Serve(seconds(1));
  Overloaded(seconds(4), seconds(3), [] {});
  EXPECT_TRUE(Serve(kLateBound + kTick).empty()) << "caught up: nothing falls due at the end of the hold";
  const Duration held = lease_clock_.stats().held;
  while (base_.Now() + kTick < registered + seconds(3) + held) EXPECT_TRUE(Serve(kTick).empty());
  base_.Advance(kTick * 2);
  cpu_.Advance(kTick);
  lease_clock_.Observe(AlarmReport{0, due_[0], std::nullopt, std::nullopt, false, std::nullopt});
  std::vector<Removal> expired;
  size_t advances = 0;
  while (registry_.Advance(0, expired)) {
    ++advances;
    EXPECT_EQ(expired.size(), advances * 100);
  }
  EXPECT_EQ(registry_.Totals().expired, 1000u);
  EXPECT_EQ(advances, 9u) << "ten batches: nine that left work, and the last";
}

class TwoQueuesTest : public LeaseClockTest {
 protected:
  TwoQueuesTest() : LeaseClockTest(2) {}
};

TEST_F(TwoQueuesTest, TheSlowestQueueHolds) {
  Serve(seconds(1));
  // Queue 0 on time; queue 1 stuck: until its alarm comes, lease time stops
  // at most the late bound past its last one.
  const TimePoint before = lease_clock_.Now();
  for (int tick = 0; tick < 30; ++tick) {
    base_.Advance(kTick);
    cpu_.Advance(kTick * 2);
    Fire(0);
  }
  EXPECT_LE(lease_clock_.Now(), before + kLateBound);
  // Its alarm, 3 s late: registryd is behind, and expiry holds from there.
  lease_clock_.Observe(AlarmReport{1, due_[1], std::nullopt, std::nullopt, false, std::nullopt});
  Arm(1);
  EXPECT_EQ(lease_clock_.stats().holds, 1u);
  EXPECT_EQ(lease_clock_.stats().stalls, 0u);
  EXPECT_LE(lease_clock_.Now(), before + kLateBound);
}

TEST_F(TwoQueuesTest, AStallIsCreditedOnce) {
  Serve(seconds(1));
  Stop(seconds(5));
  Fire(0);
  Fire(1);  // right after: no second stall
  const LeaseClockStats stats = lease_clock_.stats();
  EXPECT_EQ(stats.stalls, 1u);
  EXPECT_EQ(stats.holds, 0u) << "the other queue's alarm was set before the stall: not late";
}

}  // namespace
}  // namespace registryd
