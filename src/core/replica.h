// Cluster mode's view of the registry: an instance as the cluster's store
// (etcd) holds it, applied to every node's registry in the store's order,
// and what a node tells its cluster layer about the leases it keeps.
//
// Every node holds every instance; one node, the instance's holder, keeps
// its lease: it renews the deadline on heartbeats and asks the store to
// delete the instance when the lease runs out. The other nodes only follow
// the store. Plain data: nothing here knows etcd.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/instance.h"

namespace registryd {

// Which node keeps an instance's lease, as a slot in the cluster layer's
// table of nodes; kHeldHere is this node (and every instance of a
// standalone registry).
using NodeSlot = uint8_t;
inline constexpr NodeSlot kHeldHere = 0;

struct ReplicatedInstance {
  // The registration: service, instance id (for a seed id, its decimal
  // spelling, with seed_id set), address, metadata, TTL, overloaded.
  RegisterSpec spec;
  LeaseId lease = kNoLease;
  bool ejected = false;
  // The session it lives in (core/session_table.h; its holder keeps it
  // alive), or 0: a lease of its own, kept by `holder`.
  uint64_t session = 0;
  NodeSlot holder = kHeldHere;
  // The store's revision of this state (etcd's mod_revision): writes that
  // build on it are conditional on it, so that none overwrites a newer one.
  uint64_t stored_revision = 0;
};

// Names an instance in the store: by seed id when it has one (one serverId is
// one server across services), else by (service, instance_id).
struct InstanceKey {
  std::string service;  // empty for a seed id
  std::string instance_id;
  std::optional<int32_t> seed_id;
};

// What a heartbeat found, in cluster mode.
struct Renewal {
  LeaseId lease;
  Duration ttl;
  NodeSlot holder;  // not kHeldHere: the renewal is for that node to apply
  // The heartbeat's overloaded flag differs from the stored one, or the
  // instance is ejected (a heartbeat takes it back): the store needs a write.
  bool needs_write;
};

// A held lease whose deadline passed: the holder asks the store to delete it
// (conditional on stored_revision), and the deletion comes back through the
// store like every change.
struct DueLease {
  InstanceKey key;
  LeaseId lease;
  uint64_t stored_revision;
};

}  // namespace registryd
