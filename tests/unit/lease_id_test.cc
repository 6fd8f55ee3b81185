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

TEST(LeaseIdTest, NewLeaseIdRoutesToItsShardForEveryShardCount) {
  for (const uint32_t shard_count : {1u, 2u, 16u, 1u << kMaxShardBits}) {
    for (uint32_t shard = 0; shard < shard_count; ++shard) {
      for (int i = 0; i < 8; ++i) {
        const LeaseId lease = NewLeaseId(shard, shard_count);
        EXPECT_NE(lease, kNoLease);
        EXPECT_EQ(ShardOfLease(lease, shard_count), shard)
            << "lease " << lease << " of " << shard_count << " shards";
      }
    }
  }
}

// Shard 0 of a single shard is where a zero id could come out: all bits random.
TEST(LeaseIdTest, NewLeaseIdsAreDistinctAndNonZero) {
  absl::flat_hash_set<LeaseId> seen;
  for (int i = 0; i < 20'000; ++i) {
    const LeaseId lease = NewLeaseId(0, 1);
    ASSERT_NE(lease, kNoLease);
    EXPECT_TRUE(seen.insert(lease).second) << "duplicate lease " << lease;
  }
}

TEST(LeaseIdTest, BitsAboveTheShardAreRandom) {
  uint64_t ored = 0;
  uint64_t anded = ~uint64_t{0};
  for (int i = 0; i < 256; ++i) {
    const LeaseId lease = NewLeaseId(3, 16);
    ored |= lease;
    anded &= lease;
  }
  // Every bit above the four shard bits took both values at least once.
  EXPECT_EQ(ored | 0xf, ~uint64_t{0});
  EXPECT_EQ(anded & ~uint64_t{0xf}, 0u);
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

TEST(LeaseIdTest, RandomIdsAreDistinct) {
  absl::flat_hash_set<uint64_t> seen;
  for (int i = 0; i < 10'000; ++i) EXPECT_TRUE(seen.insert(RandomId()).second);
}

}  // namespace
}  // namespace registryd
