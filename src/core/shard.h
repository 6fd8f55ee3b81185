// One shard of the registry: the services whose names hash to it, their
// instances, and the timer wheel that expires their leases.
//
// Every public method takes the shard's mutex for O(1) work, or O(k) for one
// service of k instances (Discover, findServer's round-robin scan), or a
// bounded batch (Advance). Nothing here calls out while holding it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "core/mutex.h"
#include "core/change.h"
#include "core/change_log.h"
#include "core/access.h"
#include "core/instance.h"
#include "core/record_set.h"
#include "core/record_table.h"
#include "core/name_hash.h"
#include "core/replica.h"
#include "core/session_table.h"
#include "core/timer_wheel.h"

namespace registryd {

// A service's live set. Lives in its shard; its address is stable.
struct ServiceState {
  explicit ServiceState(const RecordTable& records) : by_instance_id(MakeRecordSet<InstanceIdKey>(records)) {}

  std::string_view name;  // the shard's map key
  std::vector<RecordIndex> members;
  RecordSet<InstanceIdKey> by_instance_id;
  uint64_t revision = 0;
  uint32_t ejected_count = 0;
  uint32_t next_pick = 0;  // findServer's round-robin position
};

// An instance that left the registry: for the caller's seed-id bookkeeping
// and its log.
struct Removal {
  LeaseId lease;
  std::optional<int32_t> seed_id;
  std::string service;
  std::string instance_id;
};

// Event counts and sizes, changed under the shard's lock and read without
// it (the summary log line, the metrics).
struct ShardCounters {
  std::atomic<uint64_t> registered{0};
  std::atomic<uint64_t> updated{0};  // a registration of an instance it held already
  std::atomic<uint64_t> deregistered{0};
  std::atomic<uint64_t> expired{0};
  std::atomic<uint64_t> ejected{0};
  std::atomic<uint64_t> expiry_batches{0};  // wheel advances that expired leases
  std::atomic<uint64_t> live{0};
  std::atomic<uint64_t> services{0};
  std::atomic<uint64_t> held_elsewhere{0};  // cluster mode: leases another node keeps
};

struct ServiceSummary {
  std::string name;
  uint32_t instances;
};

struct WarnResult {
  bool known;                            // the lease was live
  std::optional<Endpoint> replacement;   // another live server of its service
  std::string service;                   // its service, when known
};

class Shard {
 public:
  struct WheelOptions {
    TimePoint start;
    Duration tick;
    size_t slots;
  };

  struct ChangeOptions {
    // Where every shard of a registry draws its revisions from: a revision
    // names one change registry-wide.
    std::atomic<uint64_t>& revisions;
    size_t log_capacity;  // changes kept for watchers that catch up
    ChangeRetention& retention;  // and for the journal, beyond that
  };

  // `sessions` (null: none) is where instances registered in a session go.
  Shard(uint32_t index, uint32_t shard_count, WheelOptions wheel, ChangeOptions changes,
        SessionTable* sessions = nullptr);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Creates the instance, or updates the one with the same (service,
  // instance_id) and renews its lease. With spec.session, the instance goes
  // into that session (out of any other; core/session_table.h) and lives as
  // long as it does; without, an instance that was in a session leaves it
  // and has a lease of its own again. Creating needs `may_create` (the caller
  // holds capacity for it), else RESOURCE_EXHAUSTED. An expired instance found
  // on the way is removed and reported in `removed`. `access` refuses with
  // nothing changed (core/access.h).
  absl::StatusOr<RegisterResult> Upsert(const RegisterSpec& spec, TimePoint now, bool may_create,
                                        std::vector<Removal>& removed, const Access* access = nullptr);

  // Moves the deadline to now + TTL, stores `overloaded`, takes an ejected
  // instance back into rotation. NOT_FOUND when the lease is gone or past its
  // deadline (the latter is removed and reported in `removed`).
  absl::StatusOr<Duration> Heartbeat(LeaseId lease, bool overloaded, TimePoint now,
                                     std::vector<Removal>& removed, const Access* access = nullptr);

  // Removes the instance now. Returns what was removed; NOT_FOUND if unknown.
  absl::StatusOr<Removal> Deregister(LeaseId lease, const Access* access = nullptr);
  // A session ended (SessionTable::Advance): removes the instance if it is
  // still in that session.
  std::optional<Removal> RemoveFromSession(const DoomedInstance& doomed);

  // True when the lease is live and belongs to `service`.
  bool HoldsInService(LeaseId lease, std::string_view service);

  // Calls `visit` for every live, non-ejected instance of the service, under
  // the lock; returns the service's revision (for a service without
  // instances, the shard's: it still never goes back).
  uint64_t Discover(std::string_view service, bool exclude_overloaded, TimePoint now,
                    absl::FunctionRef<void(const InstanceRecord&)> visit);
  // Members [offset, offset + limit) of a service in the shard's order,
  // ejected ones too, under the lock: O(limit) whatever the service's size.
  struct MembersPage {
    uint64_t revision;
    size_t total;
  };
  MembersPage Members(std::string_view service, size_t offset, size_t limit,
                      absl::FunctionRef<void(const InstanceRecord&)> visit);
  // The revision Discover would return now.
  uint64_t Revision(std::string_view service);

  // findServer: round-robin over live, non-ejected, non-overloaded instances,
  // falling back to overloaded ones; never `exclude`.
  std::optional<Endpoint> Pick(std::string_view service, TimePoint now, LeaseId exclude = kNoLease);

  // warnServerError: ejects the lease's instance and picks a replacement.
  absl::StatusOr<WarnResult> Warn(LeaseId lease, TimePoint now, const Access* access = nullptr);

  void AppendServices(std::vector<ServiceSummary>& out);

  // For watchers. Appends the visible instances of `service` (of every
  // service when empty) as kAdded changes without a revision to `out`;
  // returns the last revision they reflect.
  uint64_t Snapshot(std::string_view service, std::vector<Change>& out);
  // Calls `visit` for the instances at record indexes [from, from + count),
  // ejected ones too (and ones past their deadline that Advance has not
  // removed yet), under the lock. Returns where the next slice starts, or
  // nothing once every index was visited. Between slices the shard changes
  // freely: an instance that lives through the whole visit keeps its index
  // and is visited once; one that comes, goes or changes meanwhile may be
  // seen in any of its states, or not at all.
  std::optional<uint32_t> VisitSlice(uint32_t from, uint32_t count,
                                     absl::FunctionRef<void(std::string_view service, const InstanceRecord&)> visit);
  // Appends the changes to `service` (to every service when empty) with a
  // revision in (after, upto] to `out`; false when they are not all kept.
  bool ChangesSince(std::string_view service, uint64_t after, uint64_t upto, std::vector<Change>& out);
  // The revision of the shard's last change; read without the lock, to tell
  // whether an operation changed something.
  uint64_t LastChange() const { return last_change_.load(std::memory_order_acquire); }

  // Expires due leases, at most `budget` wheel entries; expired leases are
  // appended to `expired`. Returns true when due work remains.
  bool Advance(TimePoint now, size_t budget, std::vector<Removal>& expired);
  // When Advance() has something to do next.
  TimePoint NextTickTime();

  const ShardCounters& counters() const { return counters_; }

  // Cluster mode (core/replica.h). Changes come only from the store, in its
  // order: Apply and ApplyRemoval log them; the rest never change what
  // Discover shows. `quiet` applies without logging a change (loading the
  // catalog; ResetHistory follows).
  //
  // The instance as the store now holds it: creates it, or updates the one
  // with the same (service, instance_id). One there under another lease, or
  // another instance under this lease, is removed first and reported in
  // `removed`. A lease held here gets a fresh deadline when it arrives
  // (registered here, or taken over); one held elsewhere never expires here.
  // Returns true when it made a record (the removals are the caller's to count).
  bool Apply(const ReplicatedInstance& state, TimePoint now, bool quiet, std::vector<Removal>& removed);
  // The store deleted the instance.
  std::optional<Removal> ApplyRemoval(std::string_view instance_id, std::string_view service,
                                      RemovalReason reason, bool quiet);
  std::optional<Removal> ApplyRemoval(LeaseId lease, RemovalReason reason, bool quiet);
  // The store deleted the session of `slot` while the lease's instance was
  // still in it: a lease of its own now, kept by `holder`.
  void LeaveRemovedSession(LeaseId lease, SessionSlot slot, NodeSlot holder, TimePoint now);
  // A heartbeat: moves the deadline of a lease held here; NOT_FOUND when the
  // lease is unknown, or held here and past its deadline.
  absl::StatusOr<Renewal> Renew(LeaseId lease, bool overloaded, TimePoint now, const Access* access = nullptr);
  // The held leases past their deadline, at most `budget` wheel entries;
  // each is reported again every `retry` until its removal is applied.
  // Returns true when due work remains.
  bool FindDue(TimePoint now, size_t budget, Duration retry, std::vector<DueLease>& due);
  std::optional<ReplicatedInstance> Find(LeaseId lease);
  std::optional<ReplicatedInstance> Find(std::string_view service, std::string_view instance_id);
  // Forgets every change logged: readers of the log from before `revision`
  // get a snapshot instead. The next change is above `revision`.
  void ResetHistory(uint64_t revision);
  // Drops the changes kept beyond the log's capacity that the retention's
  // reader has read.
  void TrimChanges();

 private:
  std::optional<RecordIndex> FindLive(LeaseId lease, TimePoint now, std::vector<Removal>& removed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<RecordIndex> FindLease(LeaseId lease) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A lease id for a new record: the spec's restore_lease when it is free
  // and routes here, else a fresh one.
  LeaseId DrawLease(const RegisterSpec& spec) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `replicated`: the record has room for the store's revision (Apply).
  // `slot`: it is in that session (joined already).
  RecordIndex Create(const RegisterSpec& spec, LeaseId lease, std::string_view owner, TimePoint now,
                     bool replicated = false, std::optional<SessionSlot> slot = std::nullopt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Joins spec.session, if the spec names one (nullopt: it does not).
  absl::StatusOr<std::optional<SessionSlot>> JoinSession(const RegisterSpec& spec, LeaseId lease, TimePoint now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the record as its session's: no deadline, no wheel entry of its own.
  static void EnterSession(InstanceRecord& record, SessionSlot slot);
  // Puts the record in the session of `slot` (joined already), or, without
  // one, gives it `deadline`, out of any session it was in.
  void MoveSession(RecordIndex index, std::optional<SessionSlot> slot, TimePoint deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Removal Remove(RecordIndex index, RemovalReason reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records a change of what Discover shows: a new revision for the service
  // and an entry in the change log.
  void Emit(const InstanceRecord& record, ChangeKind kind, RemovalReason reason = RemovalReason::kNone)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetEjected(InstanceRecord& record, bool ejected) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<RecordIndex> FindInstance(std::string_view service, std::string_view instance_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes over a replicated state's fields, and the deadline of its holder.
  void ApplyHolder(RecordIndex index, NodeSlot holder, TimePoint now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts the record in the session the store names (state.session), or out
  // of any: then its lease is its own again, kept by state.holder.
  void ApplySession(RecordIndex index, const ReplicatedInstance& state, std::optional<SessionSlot> slot,
                    TimePoint now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ReplicatedInstance StateOf(const InstanceRecord& record) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountRemoval(RemovalReason reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ApplyRemoval of what was found (nothing: not here).
  std::optional<Removal> RemoveApplied(std::optional<RecordIndex> index, RemovalReason reason, bool quiet)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetDeadline(RecordIndex index, TimePoint deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<Endpoint> PickLocked(ServiceState& service, TimePoint now, LeaseId exclude)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint32_t index_;
  const uint32_t shard_count_;
  SessionTable* const sessions_;
  Mutex mu_;
  RecordTable records_ ABSL_GUARDED_BY(mu_);
  RecordSet<LeaseKey> leases_ ABSL_GUARDED_BY(mu_);
  absl::node_hash_map<std::string, ServiceState, NameHash, NameEq> services_ ABSL_GUARDED_BY(mu_);
  TimerWheel wheel_ ABSL_GUARDED_BY(mu_);
  // Revisions only grow, registry-wide: a service that empties and comes
  // back, or moves between watch streams, never sees one go back.
  std::atomic<uint64_t>& revisions_;
  ChangeLog changes_ ABSL_GUARDED_BY(mu_);
  ChangeRetention& retention_;
  bool quiet_ ABSL_GUARDED_BY(mu_) = false;  // Emit logs nothing (Apply's `quiet`)
  std::atomic<uint64_t> last_change_;
  ShardCounters counters_;
};

}  // namespace registryd
