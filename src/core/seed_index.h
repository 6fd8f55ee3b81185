// The seed API's serverId -> lease map. The seed's heartBeat and
// warnServerError name a server only by its int32 id, and one id is one server
// across services, so this index is separate from the service-sharded state
// and sharded by id itself.
//
// Lock order: a seed-index shard's mutex may be held while a registry shard's
// mutex is taken (seed register), never the other way round.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "core/mutex.h"
#include "core/lease_id.h"

namespace registryd {

class SeedIndex {
 public:
  explicit SeedIndex(uint32_t shard_count);

  std::optional<LeaseId> Find(int32_t server_id) const;

  // Runs `bind` under the id's lock with the id's current lease (if any) and
  // stores the lease it returns (nothing on an error), so concurrent
  // registrations of one id are serialised.
  absl::Status Rebind(int32_t server_id,
                      absl::FunctionRef<absl::StatusOr<LeaseId>(std::optional<LeaseId>)> bind);

  // Forgets the id if it still maps to `lease` (a later registration wins).
  void EraseIfBound(int32_t server_id, LeaseId lease);

 private:
  struct Shard {
    mutable Mutex mu;
    absl::flat_hash_map<int32_t, LeaseId> leases ABSL_GUARDED_BY(mu);
  };
  Shard& ShardOf(int32_t server_id) const;

  const uint32_t shard_count_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace registryd
