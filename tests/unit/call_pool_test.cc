// CallPool: `base` objects wait for calls whatever number of calls waits
// for the writer, up to `max` objects in all.
#include "server/queue/call_pool.h"

#include <gtest/gtest.h>

namespace registryd {
namespace {

// Stands for a UnaryCall: counts the calls it was asked to wait for.
struct FakeCall {
  int requests = 0;
  void RequestNext() { ++requests; }
};

using Pool = CallPool<FakeCall>;

Pool MakePool(size_t base, size_t max, std::vector<FakeCall*>* made) {
  return Pool(base, max, [made](Pool&) {
    auto call = std::make_unique<FakeCall>();
    made->push_back(call.get());
    return call;
  });
}

TEST(CallPoolTest, StartsWithBaseObjectsWaitingForCalls) {
  std::vector<FakeCall*> made;
  Pool pool = MakePool(4, 16, &made);
  pool.Start();
  ASSERT_EQ(made.size(), 4u);
  for (const FakeCall* call : made) EXPECT_EQ(call->requests, 1);
}

TEST(CallPoolTest, ACallThatWaitsForTheWriterHandsItsPlaceToAnotherObject) {
  std::vector<FakeCall*> made;
  Pool pool = MakePool(2, 16, &made);
  pool.Start();
  for (int i = 0; i < 5; ++i) {  // five calls arrive and wait, one after the other
    pool.Arrived();
    pool.CallWaits();
  }
  EXPECT_EQ(pool.size(), 7u);  // 5 waiting for the writer, 2 for calls
}

TEST(CallPoolTest, AnsweredAtOnceACallKeepsItsObject) {
  std::vector<FakeCall*> made;
  Pool pool = MakePool(2, 16, &made);
  pool.Start();
  for (int i = 0; i < 100; ++i) {
    pool.Arrived();
    EXPECT_TRUE(pool.Ended(*made[0]));
  }
  EXPECT_EQ(pool.size(), 2u);
}

TEST(CallPoolTest, ObjectsBeyondBaseGoIdleAndAreReusedBeforeNewOnes) {
  std::vector<FakeCall*> made;
  Pool pool = MakePool(2, 16, &made);
  pool.Start();
  for (int i = 0; i < 3; ++i) {
    pool.Arrived();
    pool.CallWaits();
  }
  ASSERT_EQ(pool.size(), 5u);
  // The three waiting calls end: 2 objects still wait for calls, so all three go idle.
  EXPECT_FALSE(pool.Ended(*made[0]));
  EXPECT_FALSE(pool.Ended(*made[1]));
  EXPECT_FALSE(pool.Ended(*made[2]));
  // Calls wait again: the idle objects take their places, no new one is made.
  const int before = made[2]->requests;
  pool.Arrived();
  pool.CallWaits();
  EXPECT_EQ(pool.size(), 5u);
  EXPECT_EQ(made[2]->requests, before + 1);  // the last to go idle is the first reused
}

TEST(CallPoolTest, NeverGrowsBeyondMax) {
  std::vector<FakeCall*> made;
  Pool pool = MakePool(2, 4, &made);
  pool.Start();
  // Calls arrive while an object waits for one, and all wait for the writer.
  for (int i = 0; i < 4; ++i) {
    pool.Arrived();
    pool.CallWaits();
  }
  EXPECT_EQ(pool.size(), 4u);  // all four in calls: the next call waits in gRPC
  // An ending call's object waits for the next call instead of going idle.
  EXPECT_TRUE(pool.Ended(*made[0]));
  EXPECT_EQ(made[0]->requests, 1);  // RequestNext is the caller's, after Ended
}

}  // namespace
}  // namespace registryd
