// The registry: every service, instance and lease, behind both APIs.
//
// State is split into shards by a hash of the service name, so Register,
// Heartbeat and Discover of one service touch one shard; a lease id carries
// its shard, so a heartbeat finds it without a lookup table. There is no
// global lock: the only state shared by all shards is the live-instance count
// (an atomic) and the seed API's id index (sharded by id).
//
// Expiry is driven from outside: whoever owns a shard's timer (the server's
// alarm on that shard's home queue, or a test) calls Advance(shard) when
// NextTickTime(shard) has come.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/change.h"
#include "core/clock.h"
#include "core/instance.h"
#include "core/replica.h"
#include "core/seed_index.h"
#include "core/session_table.h"
#include "core/shard.h"

namespace registryd {

struct RegistryOptions {
  Duration default_ttl = std::chrono::seconds(60);
  Duration min_ttl = std::chrono::seconds(1);
  Duration max_ttl = std::chrono::hours(1);
  Duration tick = std::chrono::milliseconds(100);
  size_t wheel_slots = 1024;
  // Wheel entries one Advance() may process per shard: bounds the time a
  // mass expiry holds a shard and its queue thread.
  size_t expiry_batch = 256;
  size_t max_instances = 1'000'000;
  uint32_t shard_count = 16;  // a power of two, at most 2^kMaxShardBits
  // Changes each shard keeps for watchers that catch up or resume.
  size_t change_log_capacity = 1024;
  // Changes the shards keep in all, beyond that, for the journal while it
  // has not read them (KeepChangesAfter): a burst of changes never makes it
  // fall behind the logs, up to this many (some 150 bytes each).
  size_t max_retained_changes = 1 << 20;
  // The revision before the first change. The server starts from the wall
  // clock in microseconds, so a revision from an earlier run of the registry
  // is older than any of this run's, and resuming from it gets a snapshot.
  uint64_t first_revision = 0;
  // Sessions (core/session_table.h): how many may be open at once, and how
  // many instances one may hold.
  size_t max_sessions = 1'000'000;
  size_t max_instances_per_session = 10'000;
};

// Told when a shard logged changes; called on the thread that made them,
// after the shard's lock is released.
class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  virtual void OnChanges(uint32_t shard) = 0;
};

struct RegistryTotals {
  uint64_t registered = 0;
  uint64_t updated = 0;
  uint64_t deregistered = 0;
  uint64_t expired = 0;
  uint64_t ejected = 0;
  uint64_t expiry_batches = 0;
  uint64_t live = 0;
  uint64_t services = 0;
  uint64_t held_elsewhere = 0;
};

class Registry {
 public:
  Registry(const RegistryOptions& options, const Clock& clock);

  // A requested TTL clamped to [min_ttl, max_ttl]; zero means the default.
  Duration GrantTtl(Duration requested) const;

  // Native Register: upsert by (service, instance_id). An instance id that is
  // a seed id (SeedIdOf) registers as SeedRegister does.
  absl::StatusOr<RegisterResult> Register(const RegisterSpec& spec, const Access* access = nullptr);
  // Seed discovery(): upsert by serverId (spec.seed_id) across services: the
  // id registered under another service moves here.
  absl::StatusOr<RegisterResult> SeedRegister(const RegisterSpec& spec, const Access* access = nullptr);

  absl::StatusOr<Duration> Heartbeat(LeaseId lease, bool overloaded, const Access* access = nullptr);
  absl::StatusOr<Duration> SeedHeartbeat(int32_t server_id, bool overloaded, const Access* access = nullptr);
  // Returns what was removed, NOT_FOUND when the lease is already gone.
  absl::StatusOr<Removal> Deregister(LeaseId lease, const Access* access = nullptr);

  // Visits the live instances of a service under its shard's lock; returns
  // the service's revision.
  uint64_t Discover(std::string_view service, bool exclude_overloaded,
                    absl::FunctionRef<void(const InstanceRecord&)> visit);
  // A page of a service's instances, ejected ones too, for operators: the
  // members [offset, offset + limit) in the registry's order (which a
  // removal may shuffle), and how many there are. One past its deadline
  // shows until the wheel reaps it, within a tick.
  Shard::MembersPage Members(std::string_view service, size_t offset, size_t limit,
                             absl::FunctionRef<void(const InstanceRecord&)> visit);
  // The revision Discover would return now: a reply built at an equal
  // revision lists the same instances, unless one of them expired since.
  uint64_t ServiceRevision(std::string_view service);
  std::optional<Endpoint> FindServer(std::string_view service);
  absl::StatusOr<WarnResult> WarnServerError(int32_t server_id, const Access* access = nullptr);
  // Ejects the lease's instance as WarnServerError does (restoring an
  // ejection from the data dir); false when the lease is not live.
  bool Eject(LeaseId lease);
  // Sorted by name.
  std::vector<ServiceSummary> ListServices();

  // Expires what is due in one shard, and in the sessions of the same
  // index, within the per-call batch each; appends the removed leases to
  // `expired` (a session's instances may be in any shard). Returns true when
  // due work remains (call again soon rather than at the next tick).
  bool Advance(uint32_t shard, std::vector<Removal>& expired);
  TimePoint NextTickTime(uint32_t shard) {
    return std::min(shards_[shard]->NextTickTime(), sessions_.NextTickTime(shard));
  }

  // Sessions (core/session_table.h), on the registry's clock. An instance
  // goes into one by Register with spec.session; the session's end removes
  // its instances from the next Advance on (within a tick).
  absl::StatusOr<OpenedSession> OpenSession(const SessionSpec& spec) { return sessions_.Open(spec, clock_.Now()); }
  absl::Status RefreshSession(SessionId id, SessionAttachment attachment) {
    return sessions_.Refresh(id, attachment, clock_.Now());
  }
  void BreakSession(SessionId id, SessionAttachment attachment) { sessions_.Break(id, attachment, clock_.Now()); }
  absl::StatusOr<ResumedSession> ResumeSession(SessionId id, const SessionToken& token, std::string_view owner,
                                               std::string_view peer = {}) {
    return sessions_.Resume(id, token, owner, clock_.Now(), peer);
  }
  absl::Status CloseSession(SessionId id, SessionAttachment attachment) {
    return sessions_.Close(id, attachment, clock_.Now());
  }
  SessionTable& sessions() { return sessions_; }
  // An instance's time left: its lease's, or its session's (zero once the
  // session ended); at most the TTL of a lease another cluster node keeps
  // (no deadline here). For visitors of Discover and Members: the
  // instance's shard lock is held, then its session's (the lock order).
  Duration TimeLeft(const InstanceRecord& record, TimePoint now);

  // Watchers. The revision of the newest change anywhere: every change up to
  // it is in its shard's log (or a snapshot) once that shard is read.
  uint64_t Revision() const { return revisions_.load(std::memory_order_acquire); }
  uint64_t Snapshot(uint32_t shard, std::string_view service, std::vector<Change>& out) {
    return shards_[shard]->Snapshot(service, out);
  }
  bool ChangesSince(uint32_t shard, std::string_view service, uint64_t after, uint64_t upto,
                    std::vector<Change>& out) {
    return shards_[shard]->ChangesSince(service, after, upto, out);
  }
  // Every instance of every shard, ejected ones too (for the data dir's
  // snapshots), in slices of kVisitSlice records, each under its shard's
  // lock: a shard of a million instances is never held for the whole of it.
  // What changes during the visit may be seen in any of its states (see
  // Shard::VisitSlice).
  // `between_slices` runs after each slice, with no lock held (the data
  // dir's snapshot writes out what it has); false stops the visit.
  static constexpr uint32_t kVisitSlice = 4096;
  void VisitAll(absl::FunctionRef<void(std::string_view service, const InstanceRecord&)> visit,
                absl::FunctionRef<bool()> between_slices = [] { return true; }) {
    for (uint32_t shard = 0; shard < shard_count(); ++shard) {
      for (std::optional<uint32_t> next = 0; next;) {
        next = shards_[shard]->VisitSlice(*next, kVisitSlice, visit);
        if (!between_slices()) return;
      }
    }
  }
  // A reader that must see every change (the data dir's journal) has read
  // every change up to `revision`: the shards keep the later ones beyond
  // their logs' capacity (up to options().max_retained_changes in all), and
  // drop the earlier ones they kept so. UINT64_MAX: no such reader.
  void KeepChangesAfter(uint64_t revision);
  // Changes kept beyond the logs' capacity now.
  size_t retained_changes() const { return retention_.retained.load(std::memory_order_relaxed); }
  // Listeners are added and removed only while no other thread uses the
  // registry (before its threads start, after they stop).
  void add_change_listener(ChangeListener* listener) { listeners_.push_back(listener); }
  void remove_change_listener(ChangeListener* listener) { std::erase(listeners_, listener); }

  // Cluster mode (core/replica.h): changes decided by the cluster's store
  // and applied here in its order; the methods above that change the
  // registry are not used. Apply and ApplyRemoval run on one thread.
  //
  // Every change applied after this takes a revision above `revision` (the
  // store's revision, scaled so that the changes of one store revision get
  // revisions of their own).
  void BeginRevision(uint64_t revision);
  // Creates or updates the instance; a seed id registered elsewhere moves
  // here. `quiet`: nothing is logged (loading the catalog; ResetHistory
  // follows). INVALID_ARGUMENT when the lease does not route to the
  // service's shard.
  absl::Status Apply(const ReplicatedInstance& state, bool quiet = false);
  // Removes the instance the key names; nothing when it is not here.
  std::optional<Removal> ApplyRemoval(const InstanceKey& key, RemovalReason reason, bool quiet = false);
  // Sessions as the store holds them (SessionTable::Apply), applied on the
  // same thread, before the instances that name them.
  void ApplySession(const ReplicatedSession& state, Duration handover = Duration::zero()) {
    sessions_.Apply(state, clock_.Now(), handover);
  }
  // The store deleted the session; instances still in it (an edited store)
  // become leases of their own, kept by its holder.
  void ApplySessionRemoval(SessionId id);
  // The sessions this node keeps that are due (SessionTable::FindDue).
  bool FindDueSessions(uint32_t shard, Duration retry, std::vector<DueSession>& due) {
    return sessions_.FindDue(shard, clock_.Now(), options_.expiry_batch, retry, due);
  }
  // A heartbeat: renews a lease held here (see Shard::Renew).
  absl::StatusOr<Renewal> Renew(LeaseId lease, bool overloaded, const Access* access = nullptr);
  absl::StatusOr<Renewal> SeedRenew(int32_t server_id, bool overloaded, const Access* access = nullptr);
  // The held leases of one shard past their deadline (see Shard::FindDue);
  // true when due work remains.
  bool FindDue(uint32_t shard, Duration retry, std::vector<DueLease>& due);
  std::optional<ReplicatedInstance> Find(LeaseId lease);
  std::optional<ReplicatedInstance> Find(const InstanceKey& key);
  // Drops every shard's change log: watchers from before `revision` get a
  // snapshot (history lost); the registry's revision becomes `revision`.
  void ResetHistory(uint64_t revision);

  uint32_t shard_count() const { return options_.shard_count; }
  uint32_t ShardOfService(std::string_view service) const;
  const RegistryOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }
  RegistryTotals Totals() const;
  // Instances held now (what --max-instances bounds).
  size_t live_instances() const { return live_.load(std::memory_order_relaxed); }

 private:
  uint32_t ShardIndexOf(LeaseId lease) const { return ShardOfLease(lease, options_.shard_count); }
  Shard& ShardFor(LeaseId lease) { return *shards_[ShardIndexOf(lease)]; }
  // Runs `operation(shard)` and tells the listeners when it logged changes.
  template <typename Operation>
  auto Changing(uint32_t shard, Operation&& operation) {
    const uint64_t before = shards_[shard]->LastChange();
    auto result = operation(*shards_[shard]);
    if (!listeners_.empty() && shards_[shard]->LastChange() != before) {
      for (ChangeListener* listener : listeners_) listener->OnChanges(shard);
    }
    return result;
  }
  bool TryReserve();
  absl::StatusOr<RegisterResult> UpsertReserved(const RegisterSpec& spec, bool reserved,
                                                std::vector<Removal>& removed, const Access* access);
  // Bookkeeping for leases that left: capacity and the seed index.
  void Forget(absl::Span<const Removal> removed);
  absl::Status FullError() const;
  static absl::Status SeedNotFound(int32_t server_id);

  const RegistryOptions options_;
  const Clock& clock_;
  std::atomic<uint64_t> revisions_;
  ChangeRetention retention_;
  SessionTable sessions_;  // before the shards, which keep its address
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<ChangeListener*> listeners_;
  SeedIndex seed_index_;
  std::atomic<size_t> live_{0};
};

}  // namespace registryd
