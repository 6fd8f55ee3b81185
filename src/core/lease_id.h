// Lease ids: random, unguessable 64-bit handles whose low bits route to the
// shard that owns the lease, so a heartbeat goes straight to its shard.
//
// The low kMaxShardBits bits are the service's route (a hash of its name),
// whatever the shard count: a lease made by one registryd routes right in
// every other, whatever its --threads (cluster mode shares leases).
#pragma once

#include <cstdint>
#include <string_view>

namespace registryd {

using LeaseId = uint64_t;

inline constexpr LeaseId kNoLease = 0;
// At most 2^kMaxShardBits shards; the rest of the id is random.
inline constexpr int kMaxShardBits = 8;

// Shard count must be a power of two no larger than 2^kMaxShardBits.
inline uint32_t ShardOfLease(LeaseId lease, uint32_t shard_count) {
  return static_cast<uint32_t>(lease & (shard_count - 1));
}

// A service's route: kMaxShardBits bits of a hash of its name, the same in
// every process (libstdc++'s std::hash of a string is seeded with a constant).
// Its shard among `shard_count` is route & (shard_count - 1).
uint32_t LeaseRouteOf(std::string_view service);

// A fresh non-zero id carrying `route` in its low bits. Drawn from a
// per-thread generator seeded from the OS's entropy (absl::BitGen, Randen),
// so ids of other clients cannot be predicted from one's own.
LeaseId NewLeaseId(uint32_t route);

// A random 64-bit value for ids the registry assigns (instance ids).
uint64_t RandomId();

}  // namespace registryd
