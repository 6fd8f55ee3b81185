#include "core/lease_id.h"

#include <chrono>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "absl/container/flat_hash_set.h"
#include "core/clock.h"
#include "core/registry.h"
#include "test_specs.h"

namespace registryd {
namespace {

using std::chrono::seconds;

TEST(LeaseIdTest, ShardOfLeaseReadsTheLowBits) {
  EXPECT_EQ(ShardOfLease(0xabcd'0000'0000'0005, 8), 5u);
  EXPECT_EQ(ShardOfLease(0xabcd'0000'0000'00ff, 16), 15u);
  EXPECT_EQ(ShardOfLease(0xabcd'0000'0000'01fe, 256), 0xfeu);
  EXPECT_EQ(ShardOfLease(0xffff'ffff'ffff'ffff, 1), 0u);
}

TEST(LeaseIdTest, NewLeaseIdRoutesToTheShardOfItsRouteForEveryShardCount) {
  for (uint32_t route = 0; route < (1u << kMaxShardBits); ++route) {
    const LeaseId lease = NewLeaseId(route);
    EXPECT_NE(lease, kNoLease);
    for (const uint32_t shard_count : {1u, 2u, 16u, 1u << kMaxShardBits}) {
      EXPECT_EQ(ShardOfLease(lease, shard_count), route & (shard_count - 1))
          << "lease " << lease << " of " << shard_count << " shards";
    }
  }
}

// Route 0 is where a zero id could come out.
TEST(LeaseIdTest, NewLeaseIdsAreDistinctAndNonZero) {
  absl::flat_hash_set<LeaseId> seen;
  for (int i = 0; i < 20'000; ++i) {
    const LeaseId lease = NewLeaseId(0);
    ASSERT_NE(lease, kNoLease);
    EXPECT_TRUE(seen.insert(lease).second) << "duplicate lease " << lease;
  }
}

TEST(LeaseIdTest, BitsAboveTheRouteAreRandom) {
  uint64_t ored = 0;
  uint64_t anded = ~uint64_t{0};
  for (int i = 0; i < 256; ++i) {
    const LeaseId lease = NewLeaseId(3);
    ored |= lease;
    anded &= lease;
  }
  // Every bit above the route's took both values at least once.
  EXPECT_EQ(ored | 0xff, ~uint64_t{0});
  EXPECT_EQ(anded & ~uint64_t{0xff}, 0u);
}

TEST(LeaseIdTest, RegistryLeaseRoutesToTheShardOfItsService) {
  ManualClock clock;
  RegistryOptions options;
  options.shard_count = 8;
  Registry registry(options, clock);
  for (int i = 0; i < 64; ++i) {
    const std::string service = "service-" + std::to_string(i);
    const absl::StatusOr<RegisterResult> result =
        registry.Register(test::NativeSpec(service, "a", seconds(10)));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(ShardOfLease(result->lease, registry.shard_count()), registry.ShardOfService(service));
    // The heartbeat finds the lease through those bits alone.
    EXPECT_TRUE(registry.Heartbeat(result->lease, false).ok());
  }
}

// Cluster nodes may run different --threads: a lease made by one routes to
// its service's shard in all of them.
TEST(LeaseIdTest, ALeaseRoutesToItsServiceWhateverTheShardCount) {
  ManualClock clock;
  RegistryOptions maker_options;
  maker_options.shard_count = 16;
  Registry maker(maker_options, clock);
  for (int i = 0; i < 64; ++i) {
    const std::string service = "service-" + std::to_string(i);
    const absl::StatusOr<RegisterResult> result = maker.Register(test::NativeSpec(service, "a", seconds(10)));
    ASSERT_TRUE(result.ok()) << result.status();
    for (const uint32_t shard_count : {1u, 4u, 64u, 1u << kMaxShardBits}) {
      RegistryOptions options;
      options.shard_count = shard_count;
      const Registry other(options, clock);
      EXPECT_EQ(ShardOfLease(result->lease, shard_count), other.ShardOfService(service));
    }
  }
}

TEST(LeaseIdTest, RandomIdsAreDistinct) {
  absl::flat_hash_set<uint64_t> seen;
  for (int i = 0; i < 10'000; ++i) EXPECT_TRUE(seen.insert(RandomId()).second);
}

}  // namespace
}  // namespace registryd
