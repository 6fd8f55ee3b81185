// When an expiry alarm fires: never more than a tick of real time away,
// whatever lease time does.
#include "server/expiry_ticker.h"

#include <chrono>

#include <gtest/gtest.h>

namespace registryd {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr Duration kTick = milliseconds(100);

TEST(AlarmDelay, TheNextTickAheadOfLeaseTimeIsWaitedFor) {
  const TimePoint now = TimePoint(seconds(100));
  EXPECT_EQ(AlarmDelay(now + milliseconds(40), now, kTick), milliseconds(40));
  EXPECT_EQ(AlarmDelay(now + kTick, now, kTick), kTick);
}

TEST(AlarmDelay, WorkDueAlreadyRunsAtOnce) {
  const TimePoint now = TimePoint(seconds(100));
  EXPECT_EQ(AlarmDelay(now, now, kTick), Duration::zero());
  EXPECT_EQ(AlarmDelay(now - seconds(3), now, kTick), Duration::zero());
}

TEST(AlarmDelay, AfterLeaseTimeSteppedBackTheQueueStillWakesEveryTick) {
  // A hold went back 1.3 s: the wheel's next tick lies 1.3 s of lease time
  // ahead, which lease time, standing still, would never reach.
  const TimePoint now = TimePoint(seconds(100));
  EXPECT_EQ(AlarmDelay(now + milliseconds(1300) + kTick, now, kTick), kTick);
  EXPECT_EQ(AlarmDelay(TimePoint::max(), now, kTick), kTick);
}

}  // namespace
}  // namespace registryd
