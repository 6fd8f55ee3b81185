#include "core/shard.h"

#include <algorithm>

#include <fmt/core.h>

namespace registryd {
namespace {

// The caller's access to an instance it found; nothing is read without a policy.
absl::Status MayChange(const Access* access, WriteAction action, const InstanceRecord& record) {
  if (access == nullptr) return absl::OkStatus();
  return access->MayWrite(action, record.service->name, record.owner());
}

void Bump(std::atomic<uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }
void Drop(std::atomic<uint64_t>& counter) { counter.fetch_sub(1, std::memory_order_relaxed); }

bool IsLive(const InstanceRecord& record, TimePoint now) { return record.deadline > now; }

Endpoint EndpointOf(const InstanceRecord& record) {
  return Endpoint{*record.seed_id(), std::string(record.host()), record.port};
}

}  // namespace

Shard::Shard(uint32_t index, uint32_t shard_count, WheelOptions wheel, ChangeOptions changes, SessionTable* sessions)
    : index_(index),
      shard_count_(shard_count),
      sessions_(sessions),
      leases_(MakeRecordSet<LeaseKey>(records_)),
      wheel_(wheel.start, wheel.tick, wheel.slots),
      revisions_(changes.revisions),
      changes_(changes.log_capacity, changes.revisions.load()),
      retention_(changes.retention),
      last_change_(changes_.last_revision()) {}

std::optional<RecordIndex> Shard::FindLease(LeaseId lease) const {
  const auto it = leases_.find(lease);
  if (it == leases_.end()) return std::nullopt;
  return *it;
}

std::optional<RecordIndex> Shard::FindLive(LeaseId lease, TimePoint now, std::vector<Removal>& removed) {
  const std::optional<RecordIndex> index = FindLease(lease);
  if (!index || IsLive(records_[*index], now)) return index;
  // Past its deadline but not yet reaped by the wheel: it is expired already.
  Bump(counters_.expired);
  removed.push_back(Remove(*index, RemovalReason::kExpired));
  return std::nullopt;
}

absl::StatusOr<RegisterResult> Shard::Upsert(const RegisterSpec& spec, TimePoint now, bool may_create,
                                             std::vector<Removal>& removed, const Access* access) {
  // A caller registers as itself (the spec's owner is for restores).
  const std::string_view owner = access != nullptr ? access->identity() : std::string_view(spec.owner);
  MutexLock lock(&mu_);
  if (!spec.instance_id.empty()) {
    const auto service = services_.find(spec.service);
    if (service != services_.end()) {
      const auto existing = service->second.by_instance_id.find(spec.instance_id);
      if (existing != service->second.by_instance_id.end()) {
        std::optional<RecordIndex> index = FindLive(records_[*existing].lease, now, removed);
        if (index && spec.restore_lease != kNoLease && records_[*index].lease != spec.restore_lease) {
          // Restoring a later registration of the instance under another
          // lease (the records before it were coalesced away): the stored
          // lease is the one its holder renews.
          removed.push_back(Remove(*index, RemovalReason::kDeregistered));
          index.reset();
        }
        if (index) {
          const InstanceRecord& old = records_[*index];
          if (absl::Status check = MayChange(access, WriteAction::kRegister, old); !check.ok()) return check;
          const absl::StatusOr<std::optional<SessionSlot>> slot = JoinSession(spec, old.lease, now);
          if (!slot.ok()) return slot.status();
          const bool text_changed = old.TextDiffers(spec.host, spec.metadata, owner);
          const bool changed = text_changed || old.port != spec.port || old.overloaded != spec.overloaded;
          const bool was_ejected = old.ejected;
          // Host, metadata and owner live in the record's allocation: new ones need a new one.
          if (text_changed) {
            records_.Replace(*index, InstanceRecord::WithText(old, spec.host, spec.metadata, owner));
          }
          InstanceRecord& record = records_[*index];
          record.port = spec.port;
          record.overloaded = spec.overloaded;
          record.set_ttl(spec.ttl);
          MoveSession(*index, *slot, now + record.ttl() + spec.restore_delay);
          if (spec.seed_id) record.set_seed_id(spec.seed_id);
          SetEjected(record, false);
          if (was_ejected) {
            Emit(record, ChangeKind::kAdded);  // visible again
          } else if (changed) {
            Emit(record, ChangeKind::kUpdated);
          }
          Bump(counters_.updated);
          return RegisterResult{record.lease, std::string(record.instance_id()), record.ttl(), false};
        }
      }
    }
  }
  if (absl::Status check = CheckWrite(access, WriteAction::kRegister, spec.service, std::nullopt); !check.ok()) {
    return check;
  }
  if (!may_create) return absl::ResourceExhaustedError("");
  const LeaseId lease = DrawLease(spec);
  const absl::StatusOr<std::optional<SessionSlot>> slot = JoinSession(spec, lease, now);
  if (!slot.ok()) return slot.status();
  const InstanceRecord& record = records_[Create(spec, lease, owner, now, /*replicated=*/false, *slot)];
  return RegisterResult{record.lease, std::string(record.instance_id()), record.ttl(), true};
}

LeaseId Shard::DrawLease(const RegisterSpec& spec) const {
  LeaseId lease = spec.restore_lease;
  // A restored lease keeps its id when it names this shard and is free.
  while (lease == kNoLease || ShardOfLease(lease, shard_count_) != index_ || leases_.contains(lease)) {
    lease = NewLeaseId(LeaseRouteOf(spec.service));
  }
  return lease;
}

absl::StatusOr<std::optional<SessionSlot>> Shard::JoinSession(const RegisterSpec& spec, LeaseId lease,
                                                               TimePoint now) {
  if (spec.session == kNoSession) return std::nullopt;
  if (sessions_ == nullptr) return absl::UnimplementedError("sessions are not served here");
  return sessions_->Join(spec.session, spec.session_attachment, lease, now);
}

void Shard::EnterSession(InstanceRecord& record, SessionSlot slot) {
  record.in_session = true;
  record.filed_at = slot;
  record.deadline = TimePoint::max();
}

void Shard::MoveSession(RecordIndex index, std::optional<SessionSlot> slot, TimePoint deadline) {
  InstanceRecord& record = records_[index];
  if (record.in_session && record.filed_at != slot) sessions_->Leave(record.filed_at, record.lease);
  if (slot) {
    EnterSession(record, *slot);
  } else if (record.in_session) {  // out of its session: a lease of its own again
    record.in_session = false;
    record.deadline = deadline;
    record.filed_at = wheel_.Schedule(static_cast<TimerWheel::Entry>(index), deadline);
  } else {
    SetDeadline(index, deadline);
  }
}

RecordIndex Shard::Create(const RegisterSpec& spec, LeaseId lease, std::string_view owner, TimePoint now,
                          bool replicated, std::optional<SessionSlot> slot) {

  auto [service_it, service_created] = services_.try_emplace(spec.service, records_);
  ServiceState& service = service_it->second;
  if (service_created) {
    service.name = service_it->first;
    Bump(counters_.services);
  }

  std::string generated_id;
  std::string_view instance_id = spec.instance_id;
  while (instance_id.empty() || service.by_instance_id.contains(instance_id)) {
    generated_id = fmt::format("{:016x}", RandomId());
    instance_id = generated_id;
  }

  InstanceRecordPtr owned = InstanceRecord::Make(instance_id, spec.host, spec.metadata, replicated, owner);
  InstanceRecord& record = *owned;
  record.lease = lease;
  record.service = &service;
  record.set_ttl(spec.ttl);
  record.deadline = now + record.ttl() + spec.restore_delay;
  record.member_index = static_cast<uint32_t>(service.members.size());
  record.port = spec.port;
  record.overloaded = spec.overloaded;
  record.ejected = false;
  record.set_seed_id(spec.seed_id);
  // The sets hash the record's lease and instance id: it is complete before they see it.
  const RecordIndex index = records_.Add(std::move(owned));
  leases_.insert(index);
  service.members.push_back(index);
  service.by_instance_id.insert(index);
  Emit(record, ChangeKind::kAdded);
  if (slot) {
    EnterSession(record, *slot);
  } else {
    record.filed_at = wheel_.Schedule(static_cast<TimerWheel::Entry>(index), record.deadline);
  }
  Bump(counters_.registered);
  Bump(counters_.live);
  return index;
}

Removal Shard::Remove(RecordIndex index, RemovalReason reason) {
  const InstanceRecord& record = records_[index];
  ServiceState& service = *record.service;
  // An ejected instance left the view already, but its lease goes only now:
  // the journal needs this removal (watchers see a second REMOVED).
  Emit(record, ChangeKind::kRemoved, reason);
  // Swap-remove keeps removal O(1); round-robin order may shift, which is fine.
  const RecordIndex last = service.members.back();
  service.members[record.member_index] = last;
  records_[last].member_index = record.member_index;
  service.members.pop_back();
  service.by_instance_id.erase(record.instance_id());
  if (record.ejected) --service.ejected_count;
  Removal removal{record.lease, record.seed_id(), std::string(service.name), std::string(record.instance_id())};
  if (service.members.empty()) {
    services_.erase(service.name);
    Drop(counters_.services);
  }
  if (record.holder() != kHeldHere) Drop(counters_.held_elsewhere);
  if (record.in_session) sessions_->Leave(record.filed_at, record.lease);
  leases_.erase(removal.lease);
  records_.Remove(index);  // after the sets: they read the record to find its entry
  Drop(counters_.live);
  return removal;
}

void Shard::SetEjected(InstanceRecord& record, bool ejected) {
  if (record.ejected == ejected) return;
  record.ejected = ejected;
  if (ejected) {
    ++record.service->ejected_count;
    Bump(counters_.ejected);
  } else {
    --record.service->ejected_count;
  }
}

void Shard::Emit(const InstanceRecord& record, ChangeKind kind, RemovalReason reason) {
  if (quiet_) return;
  const uint64_t revision = revisions_.fetch_add(1, std::memory_order_acq_rel) + 1;
  ServiceState& service = *record.service;
  service.revision = revision;
  InstanceRecordPtr copy = kind == ChangeKind::kRemoved ? InstanceRecord::Make(record.instance_id(), {}, {})
                                                        : record.Clone();
  copy->lease = record.lease;  // a removal names its lease for the journal
  std::shared_ptr<const InstanceRecord> state = std::move(copy);
  const size_t extra = changes_.extra();
  changes_.Append(Change{revision, kind, reason, std::string(service.name), std::move(state)},
                  retention_.DroppableThrough());
  retention_.Account(extra, changes_.extra());
  last_change_.store(revision, std::memory_order_release);
}

// A later deadline leaves the wheel alone: the entry is filed again when it
// comes round. An earlier one (a shorter TTL) that falls before the entry's
// tick needs a new entry, or the lease would expire late.
void Shard::SetDeadline(RecordIndex index, TimePoint deadline) {
  InstanceRecord& record = records_[index];
  record.deadline = deadline;
  if (wheel_.FilesEarlier(deadline, record.filed_at)) {
    record.filed_at = wheel_.Schedule(static_cast<TimerWheel::Entry>(index), deadline);
  }
}

absl::StatusOr<Duration> Shard::Heartbeat(LeaseId lease, bool overloaded, TimePoint now,
                                          std::vector<Removal>& removed, const Access* access) {
  MutexLock lock(&mu_);
  const std::optional<RecordIndex> index = FindLive(lease, now, removed);
  if (!index) return absl::NotFoundError("lease not found: it expired or was deregistered; register again");
  InstanceRecord& record = records_[*index];
  if (absl::Status check = MayChange(access, WriteAction::kRenew, record); !check.ok()) return check;
  if (!record.in_session) SetDeadline(*index, now + record.ttl());  // else its session keeps it
  const bool was_ejected = record.ejected;
  const bool overload_changed = record.overloaded != overloaded;
  record.overloaded = overloaded;
  SetEjected(record, false);
  if (was_ejected) {
    Emit(record, ChangeKind::kAdded);  // back in rotation
  } else if (overload_changed) {
    Emit(record, ChangeKind::kUpdated);
  }
  return record.ttl();
}

absl::StatusOr<Removal> Shard::Deregister(LeaseId lease, const Access* access) {
  MutexLock lock(&mu_);
  const std::optional<RecordIndex> index = FindLease(lease);
  if (!index) return absl::NotFoundError("lease not found: it expired or was deregistered");
  const InstanceRecord& record = records_[*index];
  if (absl::Status check = MayChange(access, WriteAction::kDeregister, record); !check.ok()) return check;
  Bump(counters_.deregistered);
  return Remove(*index, RemovalReason::kDeregistered);
}

std::optional<Removal> Shard::RemoveFromSession(const DoomedInstance& doomed) {
  MutexLock lock(&mu_);
  const std::optional<RecordIndex> index = FindLease(doomed.lease);
  if (!index) return std::nullopt;
  const InstanceRecord& record = records_[*index];
  if (!record.in_session || record.filed_at != doomed.slot) return std::nullopt;  // moved since
  CountRemoval(doomed.reason);
  return Remove(*index, doomed.reason);
}

bool Shard::HoldsInService(LeaseId lease, std::string_view service) {
  MutexLock lock(&mu_);
  const std::optional<RecordIndex> index = FindLease(lease);
  return index && records_[*index].service->name == service;
}

uint64_t Shard::Discover(std::string_view service_name, bool exclude_overloaded, TimePoint now,
                         absl::FunctionRef<void(const InstanceRecord&)> visit) {
  MutexLock lock(&mu_);
  const auto it = services_.find(service_name);
  // No instances: the shard's revision, which is at least the one the service
  // had when its last instance left, so a revision never goes back.
  if (it == services_.end()) return changes_.last_revision();
  for (const RecordIndex index : it->second.members) {
    const InstanceRecord& record = records_[index];
    if (!IsLive(record, now) || record.ejected) continue;
    if (exclude_overloaded && record.overloaded) continue;
    visit(record);
  }
  return it->second.revision;
}

Shard::MembersPage Shard::Members(std::string_view service_name, size_t offset, size_t limit,
                                  absl::FunctionRef<void(const InstanceRecord&)> visit) {
  MutexLock lock(&mu_);
  const auto it = services_.find(service_name);
  if (it == services_.end()) return {changes_.last_revision(), 0};
  const std::vector<RecordIndex>& members = it->second.members;
  for (size_t i = offset; i < members.size() && i - offset < limit; ++i) visit(records_[members[i]]);
  return {it->second.revision, members.size()};
}

uint64_t Shard::Revision(std::string_view service_name) {
  MutexLock lock(&mu_);
  const auto it = services_.find(service_name);
  return it == services_.end() ? changes_.last_revision() : it->second.revision;
}

std::optional<Endpoint> Shard::PickLocked(ServiceState& service, TimePoint now, LeaseId exclude) {
  const size_t count = service.members.size();
  std::optional<size_t> overloaded_choice;
  for (size_t step = 0; step < count; ++step) {
    const size_t position = (service.next_pick + step) % count;
    const InstanceRecord& record = records_[service.members[position]];
    if (!IsLive(record, now) || record.ejected || record.lease == exclude || !record.seed_id()) continue;
    if (!record.overloaded) {
      service.next_pick = static_cast<uint32_t>((position + 1) % count);
      return EndpointOf(record);
    }
    if (!overloaded_choice) overloaded_choice = position;
  }
  if (!overloaded_choice) return std::nullopt;
  service.next_pick = static_cast<uint32_t>((*overloaded_choice + 1) % count);
  return EndpointOf(records_[service.members[*overloaded_choice]]);
}

std::optional<Endpoint> Shard::Pick(std::string_view service_name, TimePoint now, LeaseId exclude) {
  MutexLock lock(&mu_);
  const auto it = services_.find(service_name);
  if (it == services_.end()) return std::nullopt;
  return PickLocked(it->second, now, exclude);
}

absl::StatusOr<WarnResult> Shard::Warn(LeaseId lease, TimePoint now, const Access* access) {
  MutexLock lock(&mu_);
  const std::optional<RecordIndex> index = FindLease(lease);
  if (!index || !IsLive(records_[*index], now)) return WarnResult{false, std::nullopt, {}};
  InstanceRecord& record = records_[*index];
  if (absl::Status check = MayChange(access, WriteAction::kEject, record); !check.ok()) return check;
  if (!record.ejected) {
    SetEjected(record, true);
    Emit(record, ChangeKind::kRemoved, RemovalReason::kEjected);
  }
  return WarnResult{true, PickLocked(*record.service, now, lease), std::string(record.service->name)};
}

void Shard::AppendServices(std::vector<ServiceSummary>& out) {
  MutexLock lock(&mu_);
  for (const auto& [name, service] : services_) {
    const auto visible = static_cast<uint32_t>(service.members.size()) - service.ejected_count;
    if (visible > 0) out.push_back(ServiceSummary{name, visible});
  }
}

bool Shard::Advance(TimePoint now, size_t budget, std::vector<Removal>& expired) {
  MutexLock lock(&mu_);
  // The wheel calls these while the lock above is held; the analysis cannot
  // follow the lock into a template's callback.
  // An entry is a record index. Its record may be gone, or be another lease
  // that reuses the index: only the entry the record's filed_at names is its
  // current one; older copies are stale and dropped.
  const auto check = [&](TimerWheel::Entry entry) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    InstanceRecord* record = records_.Find(RecordIndex{entry});
    // An instance that went into a session left its entry behind.
    if (record == nullptr || record->in_session || record->filed_at != wheel_.NextTickStamp()) {
      return TimerWheel::Verdict{TimerWheel::Verdict::kGone, {}};
    }
    if (IsLive(*record, now)) {
      record->filed_at = wheel_.FilingStamp(record->deadline);  // where the wheel files it
      return TimerWheel::Verdict{TimerWheel::Verdict::kRenewed, record->deadline};
    }
    return TimerWheel::Verdict{TimerWheel::Verdict::kExpired, {}};
  };
  const auto expire = [&](TimerWheel::Entry entry) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    Bump(counters_.expired);
    expired.push_back(Remove(RecordIndex{entry}, RemovalReason::kExpired));
  };
  const size_t expired_before = expired.size();
  wheel_.Advance(now, budget, check, expire);
  if (expired.size() > expired_before) Bump(counters_.expiry_batches);
  return wheel_.HasDueWork(now);
}

uint64_t Shard::Snapshot(std::string_view service_name, std::vector<Change>& out) {
  MutexLock lock(&mu_);
  const auto add = [&](const ServiceState& service) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (const RecordIndex index : service.members) {
      const InstanceRecord& record = records_[index];
      if (record.ejected) continue;
      // Every record the log has not removed yet, so that the changes after
      // the snapshot apply to it (one past its deadline is removed, as
      // kExpired, within a tick).
      out.push_back(Change{0, ChangeKind::kAdded, RemovalReason::kNone, std::string(service.name), record.Clone()});
    }
  };
  if (service_name.empty()) {
    for (const auto& [name, service] : services_) add(service);
  } else if (const auto it = services_.find(service_name); it != services_.end()) {
    add(it->second);
  }
  return changes_.last_revision();
}

std::optional<uint32_t> Shard::VisitSlice(
    uint32_t from, uint32_t count, absl::FunctionRef<void(std::string_view service, const InstanceRecord&)> visit) {
  MutexLock lock(&mu_);
  const uint32_t end = std::min<uint64_t>(uint64_t{from} + count, records_.index_limit());
  for (uint32_t index = from; index < end; ++index) {
    if (const InstanceRecord* record = records_.Find(RecordIndex{index})) visit(record->service->name, *record);
  }
  if (end >= records_.index_limit()) return std::nullopt;
  return end;
}

bool Shard::ChangesSince(std::string_view service, uint64_t after, uint64_t upto, std::vector<Change>& out) {
  MutexLock lock(&mu_);
  return changes_.CopySince(service, after, upto, out);
}

std::optional<RecordIndex> Shard::FindInstance(std::string_view service, std::string_view instance_id) const {
  const auto it = services_.find(service);
  if (it == services_.end()) return std::nullopt;
  const auto found = it->second.by_instance_id.find(instance_id);
  if (found == it->second.by_instance_id.end()) return std::nullopt;
  return *found;
}

void Shard::CountRemoval(RemovalReason reason) {
  if (reason == RemovalReason::kExpired) {
    Bump(counters_.expired);
  } else {
    Bump(counters_.deregistered);
  }
}

// A lease held elsewhere has no deadline here (TimePoint::max(): always
// live); its wheel entry is dropped when it comes round. One that arrives
// here gets a full TTL and an entry of its own.
void Shard::ApplyHolder(RecordIndex index, NodeSlot holder, TimePoint now) {
  InstanceRecord& record = records_[index];
  const bool was_held = record.holder() == kHeldHere;
  record.set_holder(holder);
  if (was_held && holder != kHeldHere) Bump(counters_.held_elsewhere);
  if (!was_held && holder == kHeldHere) Drop(counters_.held_elsewhere);
  if (holder != kHeldHere) {
    record.deadline = TimePoint::max();
  } else if (!was_held) {
    record.deadline = now + record.ttl();
    record.filed_at = wheel_.Schedule(static_cast<TimerWheel::Entry>(index), record.deadline);
  }
}

// An instance in a session counts as held here (kHeldHere): it has no
// deadline of its own to keep, on any node, and no takeover moves it.
void Shard::ApplySession(RecordIndex index, const ReplicatedInstance& state, std::optional<SessionSlot> slot,
                         TimePoint now) {
  InstanceRecord& record = records_[index];
  if (slot) {
    ApplyHolder(index, kHeldHere, now);
    if (record.in_session && record.filed_at != *slot) sessions_->Leave(record.filed_at, record.lease);
    EnterSession(record, *slot);
    return;
  }
  if (record.in_session) {  // out of its session: a lease of its own again
    sessions_->Leave(record.filed_at, record.lease);
    record.in_session = false;
    record.set_holder(kHeldHere);
    record.deadline = now + record.ttl();
    record.filed_at = wheel_.Schedule(static_cast<TimerWheel::Entry>(index), record.deadline);
  }
  ApplyHolder(index, state.holder, now);
}

void Shard::LeaveRemovedSession(LeaseId lease, SessionSlot slot, NodeSlot holder, TimePoint now) {
  MutexLock lock(&mu_);
  const std::optional<RecordIndex> index = FindLease(lease);
  if (!index || !records_[*index].in_session || records_[*index].filed_at != slot) return;
  // Its session is out of the table already: nothing to leave there.
  InstanceRecord& record = records_[*index];
  record.in_session = false;
  record.set_holder(kHeldHere);
  record.deadline = now + record.ttl();
  record.filed_at = wheel_.Schedule(static_cast<TimerWheel::Entry>(*index), record.deadline);
  ApplyHolder(*index, holder, now);
}

bool Shard::Apply(const ReplicatedInstance& state, TimePoint now, bool quiet, std::vector<Removal>& removed) {
  MutexLock lock(&mu_);
  quiet_ = quiet;
  const RegisterSpec& spec = state.spec;
  std::optional<RecordIndex> index = FindInstance(spec.service, spec.instance_id);
  if (index && records_[*index].lease != state.lease) {
    CountRemoval(RemovalReason::kDeregistered);
    removed.push_back(Remove(*index, RemovalReason::kDeregistered));
    index.reset();
  }
  if (!index) {
    // Another instance under this lease: ids collided (or the store was
    // edited by hand); the store's state wins.
    if (const std::optional<RecordIndex> other = FindLease(state.lease)) {
      CountRemoval(RemovalReason::kDeregistered);
      removed.push_back(Remove(*other, RemovalReason::kDeregistered));
    }
    RegisterSpec created = spec;
    created.restore_lease = state.lease;
    created.restore_delay = Duration::zero();
    quiet_ = quiet || state.ejected;  // an ejected instance is not visible: nothing to announce
    const LeaseId lease = DrawLease(created);
    const std::optional<SessionSlot> slot =
        state.session != kNoSession ? sessions_->JoinReplicated(state.session, lease) : std::nullopt;
    index = Create(created, lease, spec.owner, now, /*replicated=*/true, slot);
    InstanceRecord& record = records_[*index];
    record.set_stored_revision(state.stored_revision);
    SetEjected(record, state.ejected);
    if (!slot) ApplyHolder(*index, state.holder, now);  // in a session: its holder keeps it
    quiet_ = false;
    return true;
  }
  const InstanceRecord& old = records_[*index];
  const bool text_changed = old.TextDiffers(spec.host, spec.metadata, spec.owner);
  const bool changed = text_changed || old.port != spec.port || old.overloaded != spec.overloaded;
  const bool was_visible = !old.ejected;
  if (text_changed || !old.has_stored_revision()) {
    records_.Replace(*index,
                     InstanceRecord::WithText(old, spec.host, spec.metadata, spec.owner, /*with_revision=*/true));
  }
  InstanceRecord& record = records_[*index];
  record.port = spec.port;
  record.overloaded = spec.overloaded;
  record.set_ttl(spec.ttl);
  record.set_seed_id(spec.seed_id);
  record.set_stored_revision(state.stored_revision);
  SetEjected(record, state.ejected);
  const std::optional<SessionSlot> slot =
      state.session != kNoSession ? sessions_->JoinReplicated(state.session, record.lease) : std::nullopt;
  ApplySession(*index, state, slot, now);
  if (was_visible && state.ejected) {
    Emit(record, ChangeKind::kRemoved, RemovalReason::kEjected);
  } else if (!was_visible && !state.ejected) {
    Emit(record, ChangeKind::kAdded);
  } else if (!state.ejected && changed) {
    Emit(record, ChangeKind::kUpdated);
  }
  if (changed) Bump(counters_.updated);
  quiet_ = false;
  return false;
}

std::optional<Removal> Shard::ApplyRemoval(std::string_view instance_id, std::string_view service,
                                           RemovalReason reason, bool quiet) {
  MutexLock lock(&mu_);
  return RemoveApplied(FindInstance(service, instance_id), reason, quiet);
}

std::optional<Removal> Shard::ApplyRemoval(LeaseId lease, RemovalReason reason, bool quiet) {
  MutexLock lock(&mu_);
  return RemoveApplied(FindLease(lease), reason, quiet);
}

std::optional<Removal> Shard::RemoveApplied(std::optional<RecordIndex> index, RemovalReason reason, bool quiet) {
  if (!index) return std::nullopt;
  quiet_ = quiet;
  CountRemoval(reason);
  Removal removal = Remove(*index, reason);
  quiet_ = false;
  return removal;
}

absl::StatusOr<Renewal> Shard::Renew(LeaseId lease, bool overloaded, TimePoint now, const Access* access) {
  MutexLock lock(&mu_);
  const std::optional<RecordIndex> index = FindLease(lease);
  if (!index || !IsLive(records_[*index], now)) {
    return absl::NotFoundError("lease not found: it expired or was deregistered; register again");
  }
  InstanceRecord& record = records_[*index];
  if (absl::Status check = MayChange(access, WriteAction::kRenew, record); !check.ok()) return check;
  // An instance in a session lives as long as the session: nothing to renew.
  if (record.holder() == kHeldHere && !record.in_session) SetDeadline(*index, now + record.ttl());
  return Renewal{lease, record.ttl(), record.holder(), record.overloaded != overloaded || record.ejected};
}

bool Shard::FindDue(TimePoint now, size_t budget, Duration retry, std::vector<DueLease>& due) {
  MutexLock lock(&mu_);
  // As in Advance; a lease held elsewhere drops its entry, and a due one is
  // filed again for the retry instead of being removed.
  const auto check = [&](TimerWheel::Entry entry) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    InstanceRecord* record = records_.Find(RecordIndex{entry});
    if (record == nullptr || record->in_session || record->filed_at != wheel_.NextTickStamp() ||
        record->holder() != kHeldHere) {
      return TimerWheel::Verdict{TimerWheel::Verdict::kGone, {}};
    }
    TimePoint when = record->deadline;
    if (!IsLive(*record, now)) {
      const std::optional<int32_t> seed_id = record->seed_id();
      due.push_back(DueLease{
          InstanceKey{seed_id ? std::string() : std::string(record->service->name), std::string(record->instance_id()),
                      seed_id},
          record->lease, record->stored_revision()});
      when = now + retry;
    }
    record->filed_at = wheel_.FilingStamp(when);
    return TimerWheel::Verdict{TimerWheel::Verdict::kRenewed, when};
  };
  const auto never_expires = [](TimerWheel::Entry) {};
  wheel_.Advance(now, budget, check, never_expires);
  return wheel_.HasDueWork(now);
}

ReplicatedInstance Shard::StateOf(const InstanceRecord& record) const {
  ReplicatedInstance state;
  state.spec.service = std::string(record.service->name);
  state.spec.instance_id = std::string(record.instance_id());
  state.spec.host = std::string(record.host());
  state.spec.port = record.port;
  state.spec.metadata = record.metadata();
  state.spec.ttl = record.ttl();
  state.spec.overloaded = record.overloaded;
  state.spec.seed_id = record.seed_id();
  state.spec.owner = std::string(record.owner());
  state.lease = record.lease;
  state.ejected = record.ejected;
  if (record.in_session) {
    if (const std::optional<SessionState> session = sessions_->AtSlot(record.filed_at)) state.session = session->id;
  }
  state.holder = record.holder();
  state.stored_revision = record.stored_revision();
  return state;
}

std::optional<ReplicatedInstance> Shard::Find(LeaseId lease) {
  MutexLock lock(&mu_);
  const std::optional<RecordIndex> index = FindLease(lease);
  if (!index) return std::nullopt;
  return StateOf(records_[*index]);
}

std::optional<ReplicatedInstance> Shard::Find(std::string_view service, std::string_view instance_id) {
  MutexLock lock(&mu_);
  const std::optional<RecordIndex> index = FindInstance(service, instance_id);
  if (!index) return std::nullopt;
  return StateOf(records_[*index]);
}

void Shard::TrimChanges() {
  MutexLock lock(&mu_);
  const size_t extra = changes_.extra();
  if (extra == 0) return;
  changes_.DropOldest(retention_.DroppableThrough());
  retention_.Account(extra, changes_.extra());
}

void Shard::ResetHistory(uint64_t revision) {
  MutexLock lock(&mu_);
  retention_.Account(changes_.extra(), 0);
  changes_.Reset(revision);
  // Replies cached by service revision must not outlive a quiet reload.
  for (auto& [name, service] : services_) service.revision = revision;
  last_change_.store(revision, std::memory_order_release);
}

TimePoint Shard::NextTickTime() {
  MutexLock lock(&mu_);
  return wheel_.NextTickTime();
}

}  // namespace registryd
