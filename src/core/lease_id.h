// Lease ids: random, unguessable 64-bit handles whose low bits name the shard
// that owns the lease, so a heartbeat goes straight to its shard.
#pragma once

#include <cstdint>

namespace registryd {

using LeaseId = uint64_t;

inline constexpr LeaseId kNoLease = 0;
// At most 2^kMaxShardBits shards; the rest of the id is random.
inline constexpr int kMaxShardBits = 8;

// Shard count must be a power of two no larger than 2^kMaxShardBits.
inline uint32_t ShardOfLease(LeaseId lease, uint32_t shard_count) {
  return static_cast<uint32_t>(lease & (shard_count - 1));
}

// A fresh non-zero id routed to `shard`. Drawn from a per-thread generator
// seeded from the OS's entropy (absl::BitGen, Randen), so ids of other clients
// cannot be predicted from one's own.
LeaseId NewLeaseId(uint32_t shard, uint32_t shard_count);

// A random 64-bit value for ids the registry assigns (instance ids).
uint64_t RandomId();

}  // namespace registryd
