// The summary log line: at most one per interval, only when counts changed.
#include "core/activity_summary.h"

#include <gtest/gtest.h>

#include "test_specs.h"

namespace registryd {
namespace {

using std::chrono::seconds;

class ActivitySummaryTest : public ::testing::Test {
 protected:
  ManualClock clock_;
  Registry registry_{RegistryOptions{}, clock_};
  ActivitySummary summary_{registry_, seconds(10)};
};

TEST_F(ActivitySummaryTest, NothingBeforeTheIntervalNorWhenNothingChanged) {
  ASSERT_TRUE(registry_.Register(test::NativeSpec("svc", "a", seconds(60))).ok());
  clock_.Advance(seconds(9));
  EXPECT_EQ(summary_.Due(clock_.Now()), std::nullopt);

  clock_.Advance(seconds(1));
  EXPECT_TRUE(summary_.Due(clock_.Now()).has_value());

  clock_.Advance(seconds(10));
  EXPECT_EQ(summary_.Due(clock_.Now()), std::nullopt);  // no change since the last line
}

TEST_F(ActivitySummaryTest, CountsWhatHappenedSinceTheLastLine) {
  const absl::StatusOr<RegisterResult> first = registry_.Register(test::NativeSpec("svc", "a", seconds(60)));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(registry_.Register(test::NativeSpec("svc", "b", seconds(5))).ok());
  clock_.Advance(seconds(10));
  EXPECT_EQ(summary_.Due(clock_.Now()),
            "registered 2, deregistered 0, expired 0, ejected 0 in the last 10s; 2 live instances");

  test::ExpireDue(registry_);  // "b" (5 s TTL) is past its deadline
  ASSERT_TRUE(registry_.Deregister(first->lease).ok());
  clock_.Advance(seconds(10));
  EXPECT_EQ(summary_.Due(clock_.Now()),
            "registered 0, deregistered 1, expired 1, ejected 0 in the last 10s; 0 live instances");
}

}  // namespace
}  // namespace registryd
