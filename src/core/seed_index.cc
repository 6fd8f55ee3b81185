#include "core/seed_index.h"

#include "absl/hash/hash.h"

namespace registryd {

SeedIndex::SeedIndex(uint32_t shard_count)
    : shard_count_(shard_count), shards_(std::make_unique<Shard[]>(shard_count)) {}

SeedIndex::Shard& SeedIndex::ShardOf(int32_t server_id) const {
  return shards_[absl::Hash<int32_t>{}(server_id) % shard_count_];
}

std::optional<LeaseId> SeedIndex::Find(int32_t server_id) const {
  Shard& shard = ShardOf(server_id);
  MutexLock lock(&shard.mu);
  const auto it = shard.leases.find(server_id);
  if (it == shard.leases.end()) return std::nullopt;
  return it->second;
}

absl::Status SeedIndex::Rebind(
    int32_t server_id, absl::FunctionRef<absl::StatusOr<LeaseId>(std::optional<LeaseId>)> bind) {
  Shard& shard = ShardOf(server_id);
  MutexLock lock(&shard.mu);
  const auto it = shard.leases.find(server_id);
  absl::StatusOr<LeaseId> lease =
      bind(it == shard.leases.end() ? std::nullopt : std::optional<LeaseId>(it->second));
  if (!lease.ok()) return lease.status();
  shard.leases.insert_or_assign(server_id, *lease);
  return absl::OkStatus();
}

void SeedIndex::EraseIfBound(int32_t server_id, LeaseId lease) {
  Shard& shard = ShardOf(server_id);
  MutexLock lock(&shard.mu);
  const auto it = shard.leases.find(server_id);
  if (it != shard.leases.end() && it->second == lease) shard.leases.erase(it);
}

}  // namespace registryd
