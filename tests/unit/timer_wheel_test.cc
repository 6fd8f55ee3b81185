#include "core/timer_wheel.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"

namespace registryd {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using Entry = TimerWheel::Entry;
using Verdict = TimerWheel::Verdict;

constexpr Duration kTick = milliseconds(100);
constexpr size_t kSlots = 8;  // one rotation: 800 ms
constexpr size_t kNoBudgetLimit = 1'000'000;

// Plays the wheel's owner the way a shard does: it keeps each entry's current
// deadline, renews by moving it, and calls an entry expired once now reaches it.
class TimerWheelTest : public ::testing::Test {
 protected:
  TimerWheelTest() : start_(clock_.Now()), wheel_(start_, kTick, kSlots) {}

  void Add(Entry entry, Duration after_start) {
    deadlines_[entry] = start_ + after_start;
    wheel_.Schedule(entry, start_ + after_start);
  }
  void Renew(Entry entry, Duration after_start) { deadlines_[entry] = start_ + after_start; }
  void Forget(Entry entry) { deadlines_.erase(entry); }

  void SetClock(Duration after_start) {
    const Duration step = start_ + after_start - clock_.Now();
    ASSERT_GE(step, Duration::zero()) << "time only goes forward";
    clock_.Advance(step);
  }

  // Advances the wheel to the clock's time; returns the expired entries, sorted.
  std::vector<Entry> Advance(size_t budget = kNoBudgetLimit) {
    const TimePoint now = clock_.Now();
    std::vector<Entry> expired;
    const auto check = [&](Entry entry) {
      const auto it = deadlines_.find(entry);
      if (it == deadlines_.end()) return Verdict{Verdict::kGone, {}};
      if (it->second > now) return Verdict{Verdict::kRenewed, it->second};
      return Verdict{Verdict::kExpired, {}};
    };
    const auto expire = [&](Entry entry) {
      expired.push_back(entry);
      deadlines_.erase(entry);
    };
    processed_ = wheel_.Advance(now, budget, check, expire);
    std::sort(expired.begin(), expired.end());
    return expired;
  }

  ManualClock clock_;
  const TimePoint start_;
  TimerWheel wheel_;
  std::map<Entry, TimePoint> deadlines_;
  size_t processed_ = 0;
};

using Entries = std::vector<Entry>;

TEST_F(TimerWheelTest, DeadlineOnATickExpiresAtThatTickNotBefore) {
  Add(1, seconds(1));
  SetClock(seconds(1) - nanoseconds(1));
  EXPECT_EQ(Advance(), Entries{});
  SetClock(seconds(1));
  EXPECT_EQ(Advance(), Entries{1});
  EXPECT_EQ(wheel_.size(), 0u);
}

TEST_F(TimerWheelTest, DeadlineBetweenTicksExpiresAtTheFollowingTick) {
  Add(1, milliseconds(1050));
  SetClock(milliseconds(1000));
  EXPECT_EQ(Advance(), Entries{});
  SetClock(milliseconds(1050) - nanoseconds(1));
  EXPECT_EQ(Advance(), Entries{});
  SetClock(milliseconds(1100));
  EXPECT_EQ(Advance(), Entries{1});
}

TEST_F(TimerWheelTest, TickByTickEachEntryExpiresOnceAtTheFirstTickAfterItsDeadline) {
  Add(1, milliseconds(250));
  Add(2, milliseconds(300));
  Add(3, milliseconds(650));
  std::map<int, Entries> expired_at_tick;
  for (int tick = 1; tick <= 10; ++tick) {
    SetClock(tick * kTick);
    if (Entries expired = Advance(); !expired.empty()) expired_at_tick[tick] = expired;
  }
  EXPECT_EQ(expired_at_tick, (std::map<int, Entries>{{3, {1, 2}}, {7, {3}}}));
  EXPECT_EQ(wheel_.size(), 0u);
}

TEST_F(TimerWheelTest, RenewedEntryIsFiledAgainInsteadOfExpiring) {
  Add(1, seconds(1));
  Renew(1, milliseconds(2500));
  SetClock(seconds(1));
  EXPECT_EQ(Advance(), Entries{});
  EXPECT_EQ(wheel_.size(), 1u);
  SetClock(milliseconds(2500) - nanoseconds(1));
  EXPECT_EQ(Advance(), Entries{});
  SetClock(milliseconds(2500));
  EXPECT_EQ(Advance(), Entries{1});
}

TEST_F(TimerWheelTest, GoneEntryIsDroppedSilently) {
  Add(1, seconds(1));
  Forget(1);
  SetClock(seconds(1));
  EXPECT_EQ(Advance(), Entries{});
  EXPECT_EQ(processed_, 1u);
  EXPECT_EQ(wheel_.size(), 0u);
}

TEST_F(TimerWheelTest, PastDeadlineFallsDueAtTheNextTick) {
  SetClock(seconds(1));
  Advance();
  Add(1, milliseconds(500));
  EXPECT_EQ(wheel_.NextTickTime(), start_ + milliseconds(1100));
  EXPECT_TRUE(wheel_.HasDueWork(wheel_.NextTickTime()));
  SetClock(milliseconds(1100));
  EXPECT_EQ(Advance(), Entries{1});
}

// 2.35 s is almost three rotations of 800 ms: the entry is filed, comes round
// and is filed again until its deadline is within reach.
TEST_F(TimerWheelTest, DeadlineBeyondOneRotationWrapsAround) {
  Add(1, milliseconds(2350));
  for (int tick = 1; tick <= 23; ++tick) {
    SetClock(tick * kTick);
    ASSERT_EQ(Advance(), Entries{}) << "expired early at tick " << tick;
    EXPECT_EQ(wheel_.size(), 1u);
  }
  SetClock(milliseconds(2350));
  EXPECT_EQ(Advance(), Entries{});
  SetClock(milliseconds(2400));
  EXPECT_EQ(Advance(), Entries{1});
}

TEST_F(TimerWheelTest, DeadlineBeyondOneRotationSurvivesAJumpShortOfIt) {
  Add(1, milliseconds(2350));
  SetClock(milliseconds(2300));
  EXPECT_EQ(Advance(), Entries{});
  SetClock(milliseconds(2400));
  EXPECT_EQ(Advance(), Entries{1});
}

TEST_F(TimerWheelTest, JumpPastSeveralRotationsExpiresInOneCall) {
  Add(1, milliseconds(2350));
  Add(2, milliseconds(300));
  SetClock(seconds(10));
  EXPECT_EQ(Advance(), (Entries{1, 2}));
  EXPECT_FALSE(wheel_.HasDueWork(clock_.Now()));
}

// 300 ms and 1100 ms share a slot (tick 3 and tick 11 of 8 slots).
TEST_F(TimerWheelTest, EntriesSharingASlotOneRotationApartExpireSeparately) {
  Add(1, milliseconds(300));
  Add(2, milliseconds(1100));
  SetClock(milliseconds(300));
  EXPECT_EQ(Advance(), Entries{1});
  SetClock(milliseconds(1100) - nanoseconds(1));
  EXPECT_EQ(Advance(), Entries{});
  SetClock(milliseconds(1100));
  EXPECT_EQ(Advance(), Entries{2});
}

TEST_F(TimerWheelTest, BudgetBoundsEachCallAndTheRestWaitsForTheNext) {
  for (Entry entry = 1; entry <= 10; ++entry) Add(entry, milliseconds(500));
  SetClock(milliseconds(500));

  EXPECT_EQ(Advance(4).size(), 4u);
  EXPECT_EQ(processed_, 4u);
  EXPECT_TRUE(wheel_.HasDueWork(clock_.Now()));
  EXPECT_EQ(Advance(4).size(), 4u);
  EXPECT_TRUE(wheel_.HasDueWork(clock_.Now()));
  EXPECT_EQ(Advance(4).size(), 2u);
  EXPECT_FALSE(wheel_.HasDueWork(clock_.Now()));
  EXPECT_TRUE(deadlines_.empty());
}

TEST_F(TimerWheelTest, BudgetCountsRenewedAndGoneEntriesToo) {
  for (Entry entry = 1; entry <= 6; ++entry) Add(entry, milliseconds(500));
  Renew(1, seconds(5));
  Renew(2, seconds(5));
  Forget(3);
  SetClock(milliseconds(500));

  size_t expired = Advance(2).size();
  EXPECT_EQ(processed_, 2u);
  EXPECT_TRUE(wheel_.HasDueWork(clock_.Now()));
  while (wheel_.HasDueWork(clock_.Now())) {
    expired += Advance(2).size();
    EXPECT_LE(processed_, 2u);
  }
  EXPECT_EQ(expired, 3u);
  EXPECT_EQ(wheel_.size(), 2u);  // the two renewed entries
}

TEST_F(TimerWheelTest, BudgetLeftoverSpansSeveralDueTicks) {
  for (Entry entry = 1; entry <= 3; ++entry) Add(entry, milliseconds(100));
  for (Entry entry = 4; entry <= 6; ++entry) Add(entry, milliseconds(200));
  SetClock(milliseconds(200));
  Entries expired = Advance(4);
  EXPECT_EQ(expired.size(), 4u);
  EXPECT_TRUE(wheel_.HasDueWork(clock_.Now()));
  for (Entry entry : Advance(4)) expired.push_back(entry);
  std::sort(expired.begin(), expired.end());
  EXPECT_EQ(expired, (Entries{1, 2, 3, 4, 5, 6}));
  EXPECT_FALSE(wheel_.HasDueWork(clock_.Now()));
}

TEST_F(TimerWheelTest, ScheduleFilesUnderTheFirstTickAtOrAfterTheDeadlineWithinOneRotation) {
  SetClock(milliseconds(1050));
  Advance();  // the 1.1 s tick is next
  EXPECT_EQ(wheel_.FilingTime(start_ + milliseconds(1250)), start_ + milliseconds(1300));
  EXPECT_EQ(wheel_.FilingTime(start_ + milliseconds(1300)), start_ + milliseconds(1300));
  EXPECT_EQ(wheel_.FilingTime(start_ + milliseconds(500)), start_ + milliseconds(1100)) << "past: next tick";
  EXPECT_EQ(wheel_.FilingTime(start_ + seconds(9)), start_ + milliseconds(1800)) << "last tick of the rotation";
  EXPECT_EQ(wheel_.StampTime(wheel_.Schedule(1, start_ + milliseconds(1250))), start_ + milliseconds(1300));
}

TEST_F(TimerWheelTest, StampsNameTheirTickAfterTheTickCountPassesTwoToTheThirtyTwo) {
  const Duration past_wrap = kTick * ((int64_t{1} << 32) + 3);
  SetClock(past_wrap - milliseconds(50));
  Advance();  // nothing filed: the wheel skips to the tick after now
  const TimerWheel::TickStamp stamp = wheel_.Schedule(7, start_ + past_wrap + milliseconds(250));
  EXPECT_EQ(stamp, 6u) << "tick 2^32 + 6, modulo 2^32";
  EXPECT_EQ(wheel_.StampTime(stamp), start_ + past_wrap + milliseconds(300));
  EXPECT_EQ(wheel_.NextTickStamp(), 3u);
  EXPECT_TRUE(wheel_.FilesEarlier(start_ + past_wrap + milliseconds(100), stamp));
  EXPECT_FALSE(wheel_.FilesEarlier(start_ + past_wrap + milliseconds(210), stamp)) << "same tick";
  EXPECT_FALSE(wheel_.FilesEarlier(start_ + past_wrap + seconds(1), stamp));
  deadlines_[7] = start_ + past_wrap + milliseconds(250);
  SetClock(past_wrap + milliseconds(300));
  EXPECT_EQ(Advance(), (Entries{7}));
}

TEST_F(TimerWheelTest, NextTickTimeIsTheFirstTickAfterTheLastAdvance) {
  EXPECT_EQ(wheel_.NextTickTime(), start_);
  SetClock(milliseconds(1050));
  Advance();
  EXPECT_EQ(wheel_.NextTickTime(), start_ + milliseconds(1100));
  EXPECT_FALSE(wheel_.HasDueWork(clock_.Now()));
  EXPECT_TRUE(wheel_.HasDueWork(start_ + milliseconds(1100)));
}

}  // namespace
}  // namespace registryd
