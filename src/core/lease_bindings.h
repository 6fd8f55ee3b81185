// Which KeepAlive stream holds a lease bound to it (bind_to_stream): when a
// stream ends, the leases it still holds are removed at once. A lease renewed
// on a newer bound stream moves to that stream, so a client that reconnected
// before the server noticed its old stream break keeps its instances.
//
// Sharded by lease id, each shard under its own mutex; no global lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/lease_id.h"
#include "core/mutex.h"

namespace registryd {

using StreamId = uint64_t;

class LeaseBindings {
 public:
  // A fresh id for a stream; never 0.
  StreamId NewStream();
  // `stream` holds `lease` from now on (taking it from any other stream).
  void Bind(LeaseId lease, StreamId stream);
  // Unbinds those of `leases` that `stream` still holds; returns them.
  std::vector<LeaseId> Release(StreamId stream, const std::vector<LeaseId>& leases);

 private:
  struct Shard {
    Mutex mu;
    absl::flat_hash_map<LeaseId, StreamId> holder ABSL_GUARDED_BY(mu);
  };
  static constexpr size_t kShards = 64;
  // Above the bits that name the registry shard (at most 8), a lease id is random.
  Shard& ShardOf(LeaseId lease) { return shards_[(lease >> 8) % kShards]; }

  std::atomic<StreamId> next_stream_{1};
  std::array<Shard, kShards> shards_;
};

}  // namespace registryd
