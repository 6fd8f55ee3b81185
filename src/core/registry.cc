#include "core/registry.h"

#include <algorithm>

#include <functional>
#include <fmt/core.h>

namespace registryd {

Registry::Registry(const RegistryOptions& options, const Clock& clock)
    : options_(options),
      clock_(clock),
      revisions_(options.first_revision),
      sessions_(SessionTableOptions{options.shard_count, clock.Now(), options.tick, options.wheel_slots,
                                    options.max_sessions, options.max_instances_per_session}),
      seed_index_(options.shard_count) {
  const TimePoint start = clock_.Now();
  retention_.max_retained = options_.max_retained_changes;
  shards_.reserve(options_.shard_count);
  for (uint32_t i = 0; i < options_.shard_count; ++i) {
    shards_.push_back(std::make_unique<Shard>(i, options_.shard_count,
                                              Shard::WheelOptions{start, options_.tick, options_.wheel_slots},
                                              Shard::ChangeOptions{revisions_, options_.change_log_capacity, retention_},
                                              &sessions_));
  }
}

Duration Registry::GrantTtl(Duration requested) const {
  if (requested == Duration::zero()) return options_.default_ttl;
  return std::clamp(requested, options_.min_ttl, options_.max_ttl);
}

uint32_t Registry::ShardOfService(std::string_view service) const {
  return LeaseRouteOf(service) & (options_.shard_count - 1);
}

bool Registry::TryReserve() {
  if (live_.fetch_add(1, std::memory_order_relaxed) < options_.max_instances) return true;
  live_.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

absl::Status Registry::SeedNotFound(int32_t server_id) {
  return absl::NotFoundError(
      fmt::format("serverId {} is not registered (or its lease expired): register again", server_id));
}

absl::Status Registry::FullError() const {
  return absl::ResourceExhaustedError(fmt::format(
      "registry is full: it holds --max-instances={} instances", options_.max_instances));
}

absl::StatusOr<RegisterResult> Registry::UpsertReserved(const RegisterSpec& spec, bool reserved,
                                                        std::vector<Removal>& removed, const Access* access) {
  absl::StatusOr<RegisterResult> result = Changing(ShardOfService(spec.service), [&](Shard& shard) {
    return shard.Upsert(spec, clock_.Now(), reserved, removed, access);
  });
  if (reserved && !(result.ok() && result->created)) live_.fetch_sub(1, std::memory_order_relaxed);
  if (!result.ok()) return absl::IsResourceExhausted(result.status()) ? FullError() : result.status();
  return result;
}

void Registry::Forget(absl::Span<const Removal> removed) {
  if (removed.empty()) return;
  live_.fetch_sub(removed.size(), std::memory_order_relaxed);
  for (const Removal& removal : removed) {
    if (removal.seed_id) seed_index_.EraseIfBound(*removal.seed_id, removal.lease);
  }
}

absl::StatusOr<RegisterResult> Registry::Register(const RegisterSpec& spec, const Access* access) {
  // A numeric instance id is a seed id: one id is one server, whichever API
  // registered it, so warnServerError can name what findServer offers.
  if (std::optional<int32_t> seed_id = SeedIdOf(spec.instance_id)) {
    RegisterSpec with_seed_id = spec;
    with_seed_id.seed_id = seed_id;
    return SeedRegister(with_seed_id, access);
  }
  std::vector<Removal> removed;
  absl::StatusOr<RegisterResult> result = UpsertReserved(spec, TryReserve(), removed, access);
  Forget(removed);
  if (absl::IsResourceExhausted(result.status()) && !removed.empty()) {
    // Full, but the upsert found its own expired instance and removed it:
    // that freed the room it needs.
    removed.clear();
    result = UpsertReserved(spec, TryReserve(), removed, access);
    Forget(removed);
  }
  return result;
}

absl::StatusOr<RegisterResult> Registry::SeedRegister(const RegisterSpec& spec, const Access* access) {
  // A move out of another service (below) is a change there too: the caller
  // must be allowed it in both, and the new service is checked first, so that
  // a refusal there leaves the old one as it was.
  if (absl::Status check = CheckWrite(access, WriteAction::kRegister, spec.service, std::nullopt); !check.ok()) {
    return check;
  }
  const int32_t server_id = *spec.seed_id;
  bool reserved = TryReserve();
  std::vector<Removal> removed;
  std::optional<RegisterResult> registered;
  const absl::Status status =
      seed_index_.Rebind(server_id, [&](std::optional<LeaseId> current) -> absl::StatusOr<LeaseId> {
        // One id is one server: registering it under another service moves it.
        if (current && !ShardFor(*current).HoldsInService(*current, spec.service)) {
          absl::StatusOr<Removal> moved =
              Changing(ShardIndexOf(*current), [&](Shard& shard) { return shard.Deregister(*current, access); });
          if (moved.ok()) {
            removed.push_back(*std::move(moved));
            // A move does not add an instance: when full, take over the slot
            // of the moved one (Forget(removed) gives that one back).
            if (!reserved) {
              live_.fetch_add(1, std::memory_order_relaxed);
              reserved = true;
            }
          } else if (!absl::IsNotFound(moved.status())) {
            if (reserved) live_.fetch_sub(1, std::memory_order_relaxed);
            return moved.status();
          }
        }
        absl::StatusOr<RegisterResult> result = UpsertReserved(spec, reserved, removed, access);
        if (!result.ok()) return result.status();
        registered = *std::move(result);
        return registered->lease;
      });
  Forget(removed);
  if (!status.ok()) return status;
  return *std::move(registered);
}

absl::StatusOr<Duration> Registry::Heartbeat(LeaseId lease, bool overloaded, const Access* access) {
  std::vector<Removal> removed;
  absl::StatusOr<Duration> ttl = Changing(ShardIndexOf(lease), [&](Shard& shard) {
    return shard.Heartbeat(lease, overloaded, clock_.Now(), removed, access);
  });
  Forget(removed);
  return ttl;
}

absl::StatusOr<Duration> Registry::SeedHeartbeat(int32_t server_id, bool overloaded, const Access* access) {
  const std::optional<LeaseId> lease = seed_index_.Find(server_id);
  if (!lease) {
    return SeedNotFound(server_id);
  }
  return Heartbeat(*lease, overloaded, access);
}

absl::StatusOr<Removal> Registry::Deregister(LeaseId lease, const Access* access) {
  absl::StatusOr<Removal> removed =
      Changing(ShardIndexOf(lease), [&](Shard& shard) { return shard.Deregister(lease, access); });
  if (removed.ok()) Forget(absl::MakeConstSpan(&*removed, 1));
  return removed;
}

uint64_t Registry::Discover(std::string_view service, bool exclude_overloaded,
                            absl::FunctionRef<void(const InstanceRecord&)> visit) {
  return shards_[ShardOfService(service)]->Discover(service, exclude_overloaded, clock_.Now(), visit);
}

Duration Registry::TimeLeft(const InstanceRecord& record, TimePoint now) {
  if (!record.in_session) return std::min<Duration>(record.deadline - now, record.ttl());
  const std::optional<SessionState> session = sessions_.AtSlot(record.filed_at);
  if (!session) return Duration::zero();
  // Kept by another cluster node: no deadline here, at most its TTL.
  if (session->deadline == TimePoint::max()) return session->ttl;
  return std::max<Duration>(session->deadline - now, Duration::zero());
}

Shard::MembersPage Registry::Members(std::string_view service, size_t offset, size_t limit,
                                     absl::FunctionRef<void(const InstanceRecord&)> visit) {
  return shards_[ShardOfService(service)]->Members(service, offset, limit, visit);
}

uint64_t Registry::ServiceRevision(std::string_view service) {
  return shards_[ShardOfService(service)]->Revision(service);
}

std::optional<Endpoint> Registry::FindServer(std::string_view service) {
  return shards_[ShardOfService(service)]->Pick(service, clock_.Now());
}

absl::StatusOr<WarnResult> Registry::WarnServerError(int32_t server_id, const Access* access) {
  const std::optional<LeaseId> lease = seed_index_.Find(server_id);
  if (!lease) return WarnResult{false, std::nullopt, {}};
  return Changing(ShardIndexOf(*lease), [&](Shard& shard) { return shard.Warn(*lease, clock_.Now(), access); });
}

bool Registry::Eject(LeaseId lease) {
  return Changing(ShardIndexOf(lease), [&](Shard& shard) { return shard.Warn(lease, clock_.Now())->known; });
}

std::vector<ServiceSummary> Registry::ListServices() {
  std::vector<ServiceSummary> services;
  for (const auto& shard : shards_) shard->AppendServices(services);
  std::sort(services.begin(), services.end(),
            [](const ServiceSummary& a, const ServiceSummary& b) { return a.name < b.name; });
  return services;
}

bool Registry::Advance(uint32_t shard, std::vector<Removal>& expired) {
  const size_t before = expired.size();
  const TimePoint now = clock_.Now();
  bool more = Changing(shard, [&](Shard& owner) { return owner.Advance(now, options_.expiry_batch, expired); });
  std::vector<DoomedInstance> doomed;
  more |= sessions_.Advance(shard, now, options_.expiry_batch, doomed);
  // By shard, so that the listeners hear once per shard, not per instance.
  std::sort(doomed.begin(), doomed.end(), [this](const DoomedInstance& a, const DoomedInstance& b) {
    return ShardIndexOf(a.lease) < ShardIndexOf(b.lease);
  });
  for (auto run = doomed.begin(); run != doomed.end();) {
    const uint32_t owner_index = ShardIndexOf(run->lease);
    const auto end = std::find_if(run, doomed.end(), [&](const DoomedInstance& instance) {
      return ShardIndexOf(instance.lease) != owner_index;
    });
    Changing(owner_index, [&](Shard& owner) {
      for (auto it = run; it != end; ++it) {
        if (std::optional<Removal> removal = owner.RemoveFromSession(*it)) expired.push_back(*std::move(removal));
      }
      return 0;
    });
    run = end;
  }
  Forget(absl::MakeConstSpan(expired).subspan(before));
  return more;
}

void Registry::BeginRevision(uint64_t revision) {
  uint64_t current = revisions_.load(std::memory_order_acquire);
  while (current < revision &&
         !revisions_.compare_exchange_weak(current, revision, std::memory_order_acq_rel)) {
  }
}

absl::Status Registry::Apply(const ReplicatedInstance& state, bool quiet) {
  const uint32_t shard = ShardOfService(state.spec.service);
  if (state.lease == kNoLease || ShardOfLease(state.lease, shard_count()) != shard) {
    return absl::InvalidArgumentError(fmt::format("lease {:016x} does not route to service {}'s shard",
                                                  state.lease, state.spec.service));
  }
  std::vector<Removal> removed;
  if (state.spec.seed_id) {
    // One id is one server: its instance under another service (or lease) goes.
    const std::optional<LeaseId> current = seed_index_.Find(*state.spec.seed_id);
    if (current && (*current != state.lease || !ShardFor(*current).HoldsInService(*current, state.spec.service))) {
      if (std::optional<Removal> moved = Changing(ShardIndexOf(*current), [&](Shard& owner) {
            return owner.ApplyRemoval(*current, RemovalReason::kDeregistered, quiet);
          })) {
        removed.push_back(*std::move(moved));
      }
    }
  }
  // The store decided: no capacity check here (the node that wrote it did).
  if (Changing(shard, [&](Shard& owner) { return owner.Apply(state, clock_.Now(), quiet, removed); })) {
    live_.fetch_add(1, std::memory_order_relaxed);
  }
  Forget(removed);
  if (state.spec.seed_id) {
    (void)seed_index_.Rebind(*state.spec.seed_id, [&](std::optional<LeaseId>) -> absl::StatusOr<LeaseId> {
      return state.lease;
    });
  }
  return absl::OkStatus();
}

std::optional<Removal> Registry::ApplyRemoval(const InstanceKey& key, RemovalReason reason, bool quiet) {
  std::optional<Removal> removed;
  if (key.seed_id) {
    const std::optional<LeaseId> lease = seed_index_.Find(*key.seed_id);
    if (!lease) return std::nullopt;
    removed = Changing(ShardIndexOf(*lease),
                       [&](Shard& owner) { return owner.ApplyRemoval(*lease, reason, quiet); });
  } else {
    removed = Changing(ShardOfService(key.service), [&](Shard& owner) {
      return owner.ApplyRemoval(key.instance_id, key.service, reason, quiet);
    });
  }
  if (removed) Forget(absl::MakeConstSpan(&*removed, 1));
  return removed;
}

void Registry::ApplySessionRemoval(SessionId id) {
  const std::optional<RemovedSession> removed = sessions_.ApplyRemoval(id);
  if (!removed) return;
  const TimePoint now = clock_.Now();
  for (const LeaseId lease : removed->members) ShardFor(lease).LeaveRemovedSession(lease, removed->slot, removed->holder, now);
  sessions_.FreeSlot(removed->slot);
}

absl::StatusOr<Renewal> Registry::Renew(LeaseId lease, bool overloaded, const Access* access) {
  return ShardFor(lease).Renew(lease, overloaded, clock_.Now(), access);
}

absl::StatusOr<Renewal> Registry::SeedRenew(int32_t server_id, bool overloaded, const Access* access) {
  const std::optional<LeaseId> lease = seed_index_.Find(server_id);
  if (!lease) {
    return SeedNotFound(server_id);
  }
  return Renew(*lease, overloaded, access);
}

bool Registry::FindDue(uint32_t shard, Duration retry, std::vector<DueLease>& due) {
  return shards_[shard]->FindDue(clock_.Now(), options_.expiry_batch, retry, due);
}

std::optional<ReplicatedInstance> Registry::Find(LeaseId lease) { return ShardFor(lease).Find(lease); }

std::optional<ReplicatedInstance> Registry::Find(const InstanceKey& key) {
  if (key.seed_id) {
    const std::optional<LeaseId> lease = seed_index_.Find(*key.seed_id);
    if (!lease) return std::nullopt;
    return Find(*lease);
  }
  return shards_[ShardOfService(key.service)]->Find(key.service, key.instance_id);
}

void Registry::KeepChangesAfter(uint64_t revision) {
  retention_.read_through.store(revision, std::memory_order_release);
  if (retained_changes() == 0) return;
  for (const auto& shard : shards_) shard->TrimChanges();
}

void Registry::ResetHistory(uint64_t revision) {
  BeginRevision(revision);
  for (const auto& shard : shards_) shard->ResetHistory(revision);
}

RegistryTotals Registry::Totals() const {
  RegistryTotals totals;
  for (const auto& shard : shards_) {
    const ShardCounters& counters = shard->counters();
    totals.registered += counters.registered.load(std::memory_order_relaxed);
    totals.updated += counters.updated.load(std::memory_order_relaxed);
    totals.deregistered += counters.deregistered.load(std::memory_order_relaxed);
    totals.expired += counters.expired.load(std::memory_order_relaxed);
    totals.ejected += counters.ejected.load(std::memory_order_relaxed);
    totals.expiry_batches += counters.expiry_batches.load(std::memory_order_relaxed);
    totals.live += counters.live.load(std::memory_order_relaxed);
    totals.services += counters.services.load(std::memory_order_relaxed);
    totals.held_elsewhere += counters.held_elsewhere.load(std::memory_order_relaxed);
  }
  return totals;
}

}  // namespace registryd
