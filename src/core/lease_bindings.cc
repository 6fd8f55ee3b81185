#include "core/lease_bindings.h"

namespace registryd {

StreamId LeaseBindings::NewStream() { return next_stream_.fetch_add(1, std::memory_order_relaxed); }

void LeaseBindings::Bind(LeaseId lease, StreamId stream) {
  Shard& shard = ShardOf(lease);
  MutexLock lock(&shard.mu);
  shard.holder[lease] = stream;
}

std::vector<LeaseId> LeaseBindings::Release(StreamId stream, const std::vector<LeaseId>& leases) {
  std::vector<LeaseId> released;
  for (const LeaseId lease : leases) {
    Shard& shard = ShardOf(lease);
    MutexLock lock(&shard.mu);
    const auto it = shard.holder.find(lease);
    if (it == shard.holder.end() || it->second != stream) continue;
    shard.holder.erase(it);
    released.push_back(lease);
  }
  return released;
}

}  // namespace registryd
