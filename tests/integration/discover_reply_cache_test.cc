#include "server/rpcs/discover_reply_cache.h"

#include <gtest/gtest.h>

#include <string>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

namespace registryd {
namespace {

using std::chrono::milliseconds;

grpc::ByteBuffer Bytes(const std::string& text) {
  grpc::Slice slice(text);
  return grpc::ByteBuffer(&slice, 1);
}

std::string Text(const grpc::ByteBuffer* buffer) {
  grpc::Slice slice;
  EXPECT_TRUE(buffer->TrySingleSlice(&slice).ok());
  return std::string(reinterpret_cast<const char*>(slice.begin()), slice.size());
}

class DiscoverReplyCacheTest : public ::testing::Test {
 protected:
  const TimePoint t0_{milliseconds(5'000)};
  DiscoverReplyCache cache_{milliseconds(100), 1 << 20};
};

TEST_F(DiscoverReplyCacheTest, ServesTheReplyWhileTheRevisionHoldsForAtMostMaxAge) {
  cache_.Store("books", false, 7, t0_, t0_ + milliseconds(60'000), Bytes("reply-7"));

  const grpc::ByteBuffer* hit = cache_.Find("books", false, 7, t0_ + milliseconds(99));
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(Text(hit), "reply-7");
  EXPECT_EQ(cache_.Find("books", false, 8, t0_), nullptr);  // the service changed
  EXPECT_EQ(cache_.Find("books", false, 7, t0_ + milliseconds(100)), nullptr);  // too old
  EXPECT_EQ(cache_.Find("films", false, 7, t0_), nullptr);
}

TEST_F(DiscoverReplyCacheTest, NeverOutlivesTheFirstListedDeadline) {
  // A listed lease due before max_age: past it the reply would show an
  // expired instance, whatever the revision says.
  cache_.Store("books", false, 7, t0_, t0_ + milliseconds(30), Bytes("reply"));
  EXPECT_NE(cache_.Find("books", false, 7, t0_ + milliseconds(29)), nullptr);
  EXPECT_EQ(cache_.Find("books", false, 7, t0_ + milliseconds(30)), nullptr);
}

TEST_F(DiscoverReplyCacheTest, KeepsTheTwoQueriesOfAServiceApart) {
  cache_.Store("books", false, 7, t0_, TimePoint::max(), Bytes("all"));
  cache_.Store("books", true, 7, t0_, TimePoint::max(), Bytes("not-overloaded"));
  EXPECT_EQ(Text(cache_.Find("books", false, 7, t0_)), "all");
  EXPECT_EQ(Text(cache_.Find("books", true, 7, t0_)), "not-overloaded");
}

TEST_F(DiscoverReplyCacheTest, ANewerReplyReplacesTheOldOneAndItsBytes) {
  cache_.Store("books", false, 7, t0_, TimePoint::max(), Bytes(std::string(1000, 'a')));
  cache_.Store("books", false, 8, t0_, TimePoint::max(), Bytes(std::string(10, 'b')));
  EXPECT_EQ(cache_.bytes(), 10 + std::string("books").size());
  EXPECT_EQ(cache_.Find("books", false, 7, t0_), nullptr);
  EXPECT_EQ(Text(cache_.Find("books", false, 8, t0_)), std::string(10, 'b'));
}

TEST_F(DiscoverReplyCacheTest, StaysWithinItsBytes) {
  DiscoverReplyCache small(milliseconds(100), 300);
  small.Store("a", false, 1, t0_, TimePoint::max(), Bytes(std::string(100, 'a')));
  small.Store("b", false, 1, t0_ + milliseconds(150), TimePoint::max(), Bytes(std::string(100, 'b')));
  // Full: the out-of-date entry ("a", built 150 ms ago) makes room first.
  small.Store("c", false, 1, t0_ + milliseconds(150), TimePoint::max(), Bytes(std::string(100, 'c')));
  EXPECT_LE(small.bytes(), 300u);
  EXPECT_EQ(small.Find("a", false, 1, t0_ + milliseconds(150)), nullptr);
  EXPECT_NE(small.Find("b", false, 1, t0_ + milliseconds(150)), nullptr);
  EXPECT_NE(small.Find("c", false, 1, t0_ + milliseconds(150)), nullptr);
  // Everything current and no room: it starts over with the new reply.
  small.Store("d", false, 1, t0_ + milliseconds(150), TimePoint::max(), Bytes(std::string(150, 'd')));
  EXPECT_LE(small.bytes(), 300u);
  EXPECT_NE(small.Find("d", false, 1, t0_ + milliseconds(150)), nullptr);
  // Larger than the whole cache: not kept.
  small.Store("e", false, 1, t0_ + milliseconds(150), TimePoint::max(), Bytes(std::string(400, 'e')));
  EXPECT_EQ(small.Find("e", false, 1, t0_ + milliseconds(150)), nullptr);
}

}  // namespace
}  // namespace registryd
