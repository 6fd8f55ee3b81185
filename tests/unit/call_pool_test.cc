// CallPool: `base` objects wait for calls whatever number of calls waits
// for the writer, and at least half of them whatever number of answers waits
// to be sent, up to `max` objects in all.
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
    pool.CallAnswered();  // and its answer is sent at once
    EXPECT_TRUE(pool.Ended(*made[0]));
  }
  EXPECT_EQ(pool.size(), 2u);
}

// A connection whose writes wait (a client that stopped reading) keeps its
// calls' objects until their answers are sent: it must not take every object
// of the method from the other clients.
TEST(CallPoolTest, OnceHalfTheObjectsWaitForTheirAnswersToBeSentFurtherOnesHandTheirPlaceOn) {
  std::vector<FakeCall*> made;
  Pool pool = MakePool(4, 16, &made);
  pool.Start();
  for (int i = 0; i < 2; ++i) {  // two answers wait: two objects still wait for calls
    pool.Arrived();
    pool.CallAnswered();
  }
  EXPECT_EQ(pool.size(), 4u);
  for (int i = 0; i < 10; ++i) {  // ten more: each hands its place to a new object
    pool.Arrived();
    pool.CallAnswered();
  }
  EXPECT_EQ(pool.size(), 14u);
  // The answers are sent: two objects take the places back, the rest go idle.
  EXPECT_TRUE(pool.Ended(*made[0]));
  EXPECT_TRUE(pool.Ended(*made[1]));
  for (size_t i = 2; i < 12; ++i) EXPECT_FALSE(pool.Ended(*made[i]));
}

TEST(CallPoolTest, WithABaseOfOneTheOnlyObjectWaitingForItsAnswerToBeSentHandsItsPlaceOn) {
  std::vector<FakeCall*> made;
  Pool pool = MakePool(1, 4, &made);
  pool.Start();
  pool.Arrived();
  pool.CallAnswered();
  ASSERT_EQ(pool.size(), 2u);
  EXPECT_EQ(made[1]->requests, 1);  // the new object waits for the next call
}

TEST(CallPoolTest, AnswersWaitingToBeSentNeverGrowThePoolBeyondMax) {
  std::vector<FakeCall*> made;
  Pool pool = MakePool(4, 6, &made);
  pool.Start();
  // Six calls arrive, each while an object waits for it, and none's answer is
  // sent: two hand their places on, up to max; then none waits for a call.
  for (int i = 0; i < 6; ++i) {
    pool.Arrived();
    pool.CallAnswered();
  }
  EXPECT_EQ(pool.size(), 6u);  // the next call waits in gRPC until an answer is sent
  EXPECT_TRUE(pool.Ended(*made[0]));  // an answer sent: its object waits for a call again
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
