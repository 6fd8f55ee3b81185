#include "core/lease_id.h"

#include "absl/random/random.h"

namespace registryd {
namespace {

absl::BitGen& ThreadGenerator() {
  thread_local absl::BitGen generator;
  return generator;
}

}  // namespace

uint64_t RandomId() { return absl::Uniform<uint64_t>(ThreadGenerator()); }

LeaseId NewLeaseId(uint32_t shard, uint32_t shard_count) {
  const uint64_t shard_mask = shard_count - 1;
  for (;;) {
    const LeaseId lease = (RandomId() & ~shard_mask) | shard;
    if (lease != kNoLease) return lease;
  }
}

}  // namespace registryd
