#include "core/shard.h"

#include <algorithm>

#include <fmt/core.h>

namespace registryd {
namespace {

void Bump(std::atomic<uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }
void Drop(std::atomic<uint64_t>& counter) { counter.fetch_sub(1, std::memory_order_relaxed); }

bool IsLive(const InstanceRecord& record, TimePoint now) { return record.deadline > now; }

Endpoint EndpointOf(const InstanceRecord& record) {
  return Endpoint{*record.seed_id(), std::string(record.host()), record.port};
}

}  // namespace

Shard::Shard(uint32_t index, uint32_t shard_count, WheelOptions wheel)
    : index_(index), shard_count_(shard_count), wheel_(wheel.start, wheel.tick, wheel.slots) {}

InstanceRecord* Shard::FindLive(LeaseId lease, TimePoint now, std::vector<Removal>& removed) {
  const auto it = leases_.find(lease);
  if (it == leases_.end()) return nullptr;
  InstanceRecord& record = **it;
  if (IsLive(record, now)) return &record;
  // Past its deadline but not yet reaped by the wheel: it is expired already.
  Bump(counters_.expired);
  removed.push_back(Remove(record));
  return nullptr;
}

absl::StatusOr<RegisterResult> Shard::Upsert(const RegisterSpec& spec, TimePoint now,
                                             bool may_create, std::vector<Removal>& removed) {
  MutexLock lock(&mu_);
  if (!spec.instance_id.empty()) {
    const auto service = services_.find(spec.service);
    if (service != services_.end()) {
      const auto existing = service->second.by_instance_id.find(spec.instance_id);
      if (existing != service->second.by_instance_id.end()) {
        InstanceRecord* record = FindLive((*existing)->lease, now, removed);
        if (record != nullptr) {
          const bool changed = record->host() != spec.host || record->port != spec.port ||
                               record->metadata() != spec.metadata ||
                               record->overloaded != spec.overloaded || record->ejected;
          if (record->host() != spec.host) record = &ReplaceHost(*record, spec.host);
          record->port = spec.port;
          if (record->metadata() != spec.metadata) record->set_metadata(spec.metadata);
          record->overloaded = spec.overloaded;
          record->ttl = spec.ttl;
          SetDeadline(*record, now + spec.ttl);
          if (spec.seed_id) record->set_seed_id(spec.seed_id);
          SetEjected(*record, false);
          if (changed) Touch(*record->service);
          return RegisterResult{record->lease, std::string(record->instance_id()), record->ttl, false};
        }
      }
    }
  }
  if (!may_create) return absl::ResourceExhaustedError("");
  InstanceRecord& record = Create(spec, now);
  return RegisterResult{record.lease, std::string(record.instance_id()), record.ttl, true};
}

InstanceRecord& Shard::Create(const RegisterSpec& spec, TimePoint now) {
  LeaseId lease;
  do {
    lease = NewLeaseId(index_, shard_count_);
  } while (leases_.contains(lease));

  auto [service_it, service_created] = services_.try_emplace(spec.service);
  ServiceState& service = service_it->second;
  if (service_created) service.name = service_it->first;

  std::string generated_id;
  std::string_view instance_id = spec.instance_id;
  while (instance_id.empty() || service.by_instance_id.contains(instance_id)) {
    generated_id = fmt::format("{:016x}", RandomId());
    instance_id = generated_id;
  }

  InstanceRecordPtr owned = InstanceRecord::Make(instance_id, spec.host);
  InstanceRecord& record = *owned;
  record.lease = lease;  // the set's key: set before inserting
  leases_.insert(std::move(owned));
  record.service = &service;
  record.set_metadata(spec.metadata);
  record.ttl = spec.ttl;
  record.deadline = now + spec.ttl;
  record.member_index = static_cast<uint32_t>(service.members.size());
  record.port = spec.port;
  record.overloaded = spec.overloaded;
  record.ejected = false;
  record.set_seed_id(spec.seed_id);

  service.members.push_back(&record);
  service.by_instance_id.insert(&record);
  Touch(service);
  record.filed_at = wheel_.Schedule(lease, record.deadline);
  Bump(counters_.registered);
  Bump(counters_.live);
  return record;
}

Removal Shard::Remove(InstanceRecord& record) {
  ServiceState& service = *record.service;
  // Swap-remove keeps removal O(1); round-robin order may shift, which is fine.
  InstanceRecord* last = service.members.back();
  service.members[record.member_index] = last;
  last->member_index = record.member_index;
  service.members.pop_back();
  service.by_instance_id.erase(record.instance_id());
  if (record.ejected) --service.ejected_count;
  Touch(service);
  Removal removal{record.lease, record.seed_id(), std::string(service.name), std::string(record.instance_id())};
  if (service.members.empty()) services_.erase(service.name);
  leases_.erase(removal.lease);
  Drop(counters_.live);
  return removal;
}

InstanceRecord& Shard::ReplaceHost(InstanceRecord& old, std::string_view host) {
  ServiceState& service = *old.service;
  service.by_instance_id.erase(old.instance_id());
  auto old_node = leases_.extract(leases_.find(old.lease));  // freed on return
  InstanceRecordPtr owned = InstanceRecord::WithHost(std::move(old), host);
  InstanceRecord& record = *owned;
  leases_.insert(std::move(owned));
  service.members[record.member_index] = &record;
  service.by_instance_id.insert(&record);
  return record;
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
  Touch(*record.service);
}

// A later deadline leaves the wheel alone: the entry is filed again when it
// comes round. An earlier one (a shorter TTL) that falls before the entry's
// tick needs a new entry, or the lease would expire late.
void Shard::SetDeadline(InstanceRecord& record, TimePoint deadline) {
  record.deadline = deadline;
  if (deadline < record.filed_at && wheel_.FilingTime(deadline) < record.filed_at) {
    record.filed_at = wheel_.Schedule(record.lease, deadline);
  }
}

absl::StatusOr<Duration> Shard::Heartbeat(LeaseId lease, bool overloaded, TimePoint now,
                                          std::vector<Removal>& removed) {
  MutexLock lock(&mu_);
  InstanceRecord* record = FindLive(lease, now, removed);
  if (record == nullptr) {
    return absl::NotFoundError("lease not found: it expired or was deregistered; register again");
  }
  SetDeadline(*record, now + record->ttl);
  if (record->overloaded != overloaded) {
    record->overloaded = overloaded;
    Touch(*record->service);
  }
  SetEjected(*record, false);
  return record->ttl;
}

std::optional<Removal> Shard::Deregister(LeaseId lease) {
  MutexLock lock(&mu_);
  const auto it = leases_.find(lease);
  if (it == leases_.end()) return std::nullopt;
  Bump(counters_.deregistered);
  return Remove(**it);
}

bool Shard::HoldsInService(LeaseId lease, std::string_view service) {
  MutexLock lock(&mu_);
  const auto it = leases_.find(lease);
  return it != leases_.end() && (*it)->service->name == service;
}

uint64_t Shard::Discover(std::string_view service_name, bool exclude_overloaded, TimePoint now,
                         absl::FunctionRef<void(const InstanceRecord&)> visit) {
  MutexLock lock(&mu_);
  const auto it = services_.find(service_name);
  // No instances: the shard's revision, which is at least the one the service
  // had when its last instance left, so a revision never goes back.
  if (it == services_.end()) return revision_;
  for (const InstanceRecord* record : it->second.members) {
    if (!IsLive(*record, now) || record->ejected) continue;
    if (exclude_overloaded && record->overloaded) continue;
    visit(*record);
  }
  return it->second.revision;
}

uint64_t Shard::Revision(std::string_view service_name) {
  MutexLock lock(&mu_);
  const auto it = services_.find(service_name);
  return it == services_.end() ? revision_ : it->second.revision;
}

std::optional<Endpoint> Shard::PickLocked(ServiceState& service, TimePoint now, LeaseId exclude) {
  const size_t count = service.members.size();
  std::optional<size_t> overloaded_choice;
  for (size_t step = 0; step < count; ++step) {
    const size_t position = (service.next_pick + step) % count;
    const InstanceRecord& record = *service.members[position];
    if (!IsLive(record, now) || record.ejected || record.lease == exclude || !record.seed_id()) continue;
    if (!record.overloaded) {
      service.next_pick = static_cast<uint32_t>((position + 1) % count);
      return EndpointOf(record);
    }
    if (!overloaded_choice) overloaded_choice = position;
  }
  if (!overloaded_choice) return std::nullopt;
  service.next_pick = static_cast<uint32_t>((*overloaded_choice + 1) % count);
  return EndpointOf(*service.members[*overloaded_choice]);
}

std::optional<Endpoint> Shard::Pick(std::string_view service_name, TimePoint now, LeaseId exclude) {
  MutexLock lock(&mu_);
  const auto it = services_.find(service_name);
  if (it == services_.end()) return std::nullopt;
  return PickLocked(it->second, now, exclude);
}

WarnResult Shard::Warn(LeaseId lease, TimePoint now) {
  MutexLock lock(&mu_);
  const auto it = leases_.find(lease);
  if (it == leases_.end() || !IsLive(**it, now)) return WarnResult{false, std::nullopt};
  InstanceRecord& record = **it;
  SetEjected(record, true);
  return WarnResult{true, PickLocked(*record.service, now, lease)};
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
  const auto check = [&](LeaseId lease) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const auto it = leases_.find(lease);
    // Gone, or a stale copy: the lease's current entry is filed under another tick.
    if (it == leases_.end() || (*it)->filed_at != wheel_.NextTickTime()) {
      return TimerWheel::Verdict{TimerWheel::Verdict::kGone, {}};
    }
    InstanceRecord& record = **it;
    if (IsLive(record, now)) {
      record.filed_at = wheel_.FilingTime(record.deadline);  // where the wheel files it
      return TimerWheel::Verdict{TimerWheel::Verdict::kRenewed, record.deadline};
    }
    return TimerWheel::Verdict{TimerWheel::Verdict::kExpired, {}};
  };
  const auto expire = [&](LeaseId lease) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    Bump(counters_.expired);
    expired.push_back(Remove(**leases_.find(lease)));
  };
  wheel_.Advance(now, budget, check, expire);
  return wheel_.HasDueWork(now);
}

TimePoint Shard::NextTickTime() {
  MutexLock lock(&mu_);
  return wheel_.NextTickTime();
}

}  // namespace registryd
