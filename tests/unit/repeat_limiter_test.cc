#include <chrono>

#include <gtest/gtest.h>

#include "core/repeat_limiter.h"

namespace registryd::log {
namespace {

using std::chrono::seconds;

TEST(RepeatLimiterTest, LetsABurstThroughPerWindowThenCountsWhatItHeldBack) {
  RepeatLimiter limiter(3, seconds(10));
  const RepeatLimiter::TimePoint start{};
  uint64_t held_back = 99;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limiter.Admit(1, start + seconds(i), held_back));
    EXPECT_EQ(held_back, 0u);
  }
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.Admit(1, start + seconds(5), held_back));
  // Another site has its own budget.
  EXPECT_TRUE(limiter.Admit(2, start + seconds(5), held_back));
  // A new window: the first line says how many were held back.
  ASSERT_TRUE(limiter.Admit(1, start + seconds(10), held_back));
  EXPECT_EQ(held_back, 5u);
  ASSERT_TRUE(limiter.Admit(1, start + seconds(11), held_back));
  EXPECT_EQ(held_back, 0u);
}

}  // namespace
}  // namespace registryd::log
