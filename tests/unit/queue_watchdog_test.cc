#include "core/queue_watchdog.h"

#include <gtest/gtest.h>

namespace registryd {
namespace {

using std::chrono::milliseconds;

constexpr Duration kPeriod = milliseconds(250);

struct WatchdogFixture {
  ManualClock clock;
  int pings = 0;
  QueueWatchdog watchdog{3, kPeriod, [this] { ++pings; }};

  // One period passes and the queues in `running` report, as their alarms do.
  void Period(std::initializer_list<size_t> running) {
    clock.Advance(kPeriod);
    for (size_t queue : running) watchdog.Ran(queue, clock.Now());
  }
};

TEST(QueueWatchdogTest, PingsOncePerPeriodWhileEveryQueueRuns) {
  WatchdogFixture f;
  f.Period({0, 1});
  EXPECT_EQ(f.pings, 0) << "queue 2 has not reported yet";
  f.Period({0, 1, 2});
  EXPECT_EQ(f.pings, 1);
  for (int period = 0; period < 10; ++period) f.Period({0, 1, 2});
  EXPECT_EQ(f.pings, 11) << "three reports a period, one ping";
  EXPECT_EQ(f.watchdog.pings(), 11u);
}

TEST(QueueWatchdogTest, ReportsCloserThanAPeriodDoNotPingMoreOften) {
  WatchdogFixture f;
  f.Period({0, 1, 2});
  ASSERT_EQ(f.pings, 1);
  f.clock.Advance(kPeriod / 2);
  f.watchdog.Ran(0, f.clock.Now());
  EXPECT_EQ(f.pings, 1);
  f.clock.Advance(kPeriod / 2);
  f.watchdog.Ran(1, f.clock.Now());
  EXPECT_EQ(f.pings, 2);
}

TEST(QueueWatchdogTest, AStuckQueueStopsThePingsAndTheyComeBackWithIt) {
  WatchdogFixture f;
  f.Period({0, 1, 2});
  ASSERT_EQ(f.pings, 1);
  // Queue 1 is stuck in a handler: its last report ages.
  f.Period({0, 2});
  EXPECT_EQ(f.pings, 2) << "one period late is within the slack of a late alarm";
  f.Period({0, 2});
  EXPECT_EQ(f.pings, 3) << "two periods late still is";
  for (int period = 0; period < 20; ++period) f.Period({0, 2});
  EXPECT_EQ(f.pings, 3) << "no ping while queue 1 does not run";
  f.Period({0, 1, 2});
  EXPECT_EQ(f.pings, 4);
}

TEST(QueueWatchdogTest, APausedProcessPingsOnceWhenItRunsAgain) {
  WatchdogFixture f;
  f.Period({0, 1, 2});
  ASSERT_EQ(f.pings, 1);
  // Every queue late by a minute (SIGSTOP): the first to run finds the others
  // stale, and the ping waits until all have run again.
  f.clock.Advance(std::chrono::minutes(1));
  f.watchdog.Ran(0, f.clock.Now());
  f.watchdog.Ran(1, f.clock.Now());
  EXPECT_EQ(f.pings, 1);
  f.watchdog.Ran(2, f.clock.Now());
  EXPECT_EQ(f.pings, 2);
}

}  // namespace
}  // namespace registryd
