#include "cluster/cluster_writer.h"

#include <fmt/core.h>

#include "cluster/stored_instance.h"
#include "core/log.h"

namespace registryd::cluster {
namespace {

// Tries of a write that keeps losing races with other nodes' writes of the same instance.
constexpr int kMaxAttempts = 5;
// A due lease whose deletion has not come back is asked for again this often.
constexpr Duration kExpiryRetry = std::chrono::seconds(1);

// A write that lost its race waits for the write that won to reach this
// node before it tries again; its Txn's revision may be one nothing under the
// prefix has (a shared etcd), so it waits at most this long.
constexpr Duration kLostRacePatience = std::chrono::seconds(1);

std::optional<Duration> PatienceFor(const Committed& committed) {
  if (committed.applied) return std::nullopt;  // its own event comes back
  return kLostRacePatience;
}

absl::Status LostRaces() {
  return absl::AbortedError("the instance kept changing on other nodes while this write was tried; try again");
}

absl::Status SessionsNotServed() {
  return absl::UnimplementedError(
      "sessions are not served in cluster mode yet: keep instances alive with leases (Register and KeepAlive)");
}

absl::Status CutOffError() {
  return absl::UnavailableError(
      "this registryd node lost etcd and the other nodes took over its leases: send heartbeats to another node");
}

}  // namespace

ClusterWriter::ClusterWriter(Registry& registry, EtcdCommitter& committer, CatalogFollower& follower,
                             NodeTable& nodes, PeerLinks& peers, const EtcdKeys& keys)
    : registry_(registry), committer_(committer), follower_(follower), nodes_(nodes), peers_(peers), keys_(keys) {}

std::string ClusterWriter::HolderName(NodeSlot slot) const {
  return slot == kHeldHere ? nodes_.self() : nodes_.NameOf(slot);
}

LeaseId ClusterWriter::NewLease(std::string_view service) {
  for (;;) {
    const LeaseId lease = NewLeaseId(LeaseRouteOf(service));
    if (!registry_.Find(lease)) return lease;
  }
}

void ClusterWriter::Register(RegisterSpec spec, AccessRef access, Done<RegisterResult> done) {
  if (spec.session != kNoSession) {
    std::move(done)(SessionsNotServed());
    return;
  }
  // As Registry::Register: a numeric instance id is a seed id.
  if (!spec.seed_id) spec.seed_id = SeedIdOf(spec.instance_id);
  Upsert(std::move(spec), std::move(access), std::move(done), 1);
}

void ClusterWriter::OpenSession(SessionSpec, Done<OpenedSession> done) { std::move(done)(SessionsNotServed()); }

void ClusterWriter::ResumeSession(SessionId, SessionToken, std::string, std::string, Done<ResumedSession> done) {
  std::move(done)(SessionsNotServed());
}

void ClusterWriter::CloseSession(SessionId, SessionAttachment, Done<SessionId> done) {
  std::move(done)(SessionsNotServed());
}

void ClusterWriter::SeedRegister(RegisterSpec spec, AccessRef access, Done<RegisterResult> done) {
  Upsert(std::move(spec), std::move(access), std::move(done), 1);
}

template <typename Result>
void ClusterWriter::Commit(EtcdWrite write, int attempt, absl::AnyInvocable<Result() &&> answer,
                           absl::AnyInvocable<void(Done<Result>, int) &&> retry, Done<Result> done) {
  write.done = [this, attempt, answer = std::move(answer), retry = std::move(retry),
                done = std::move(done)](absl::StatusOr<Committed> committed) mutable {
    if (!committed.ok()) {
      std::move(done)(committed.status());
      return;
    }
    follower_.WhenApplied(
        committed->revision,
        [attempt, applied = committed->applied, answer = std::move(answer), retry = std::move(retry),
         done = std::move(done)](bool caught_up) mutable {
          if (!caught_up) {
            std::move(done)(absl::UnavailableError("the node stopped before the change reached it"));
          } else if (applied) {
            std::move(done)(std::move(answer)());
          } else if (attempt >= kMaxAttempts) {
            std::move(done)(LostRaces());
          } else {
            std::move(retry)(std::move(done), attempt + 1);  // on the state that won
          }
        },
        PatienceFor(*committed));
  };
  committer_.Submit(std::move(write));
}

void ClusterWriter::Upsert(RegisterSpec spec, AccessRef access, Done<RegisterResult> done, int attempt) {
  if (spec.instance_id.empty()) spec.instance_id = fmt::format("{:016x}", RandomId());
  const InstanceKey key = KeyOf(spec);
  const std::optional<ReplicatedInstance> existing = registry_.Find(key);
  // As Registry::SeedRegister: a seed id moving from another service needs the caller's access there too.
  const bool same_service = existing && existing->spec.service == spec.service;
  absl::Status check = CheckWrite(access.get(), WriteAction::kRegister, spec.service,
                                  same_service ? std::optional<std::string_view>(existing->spec.owner) : std::nullopt);
  if (check.ok() && existing && !same_service) {
    check = CheckWrite(access.get(), WriteAction::kDeregister, existing->spec.service, existing->spec.owner);
  }
  if (!check.ok()) {
    std::move(done)(std::move(check));
    return;
  }
  if (!existing && registry_.live_instances() >= registry_.options().max_instances) {
    std::move(done)(absl::ResourceExhaustedError(fmt::format(
        "registry is full: it holds --max-instances={} instances", registry_.options().max_instances)));
    return;
  }
  ReplicatedInstance state;
  if (access != nullptr) spec.owner = std::string(access->identity());  // stored with it in etcd
  // The lease stays with the instance, unless a seed id moves to another
  // service (a lease routes to its service's shard).
  state.lease = existing && existing->spec.service == spec.service ? existing->lease : NewLease(spec.service);
  state.spec = std::move(spec);
  EtcdWrite write;
  write.key = keys_.Instance(key);
  write.value = EncodeInstance(state, nodes_.self());
  write.if_revision = existing ? static_cast<int64_t>(existing->stored_revision) : 0;
  // The answer is made here, before the spec moves into the retry (the two
  // closures are arguments of one call: their order is unspecified).
  RegisterResult result{state.lease, state.spec.instance_id, state.spec.ttl, !existing};
  const bool overloaded = state.spec.overloaded;
  Commit<RegisterResult>(
      std::move(write), attempt,
      [this, result = std::move(result), overloaded]() mutable {
        // Held here now: a re-registration renews the lease.
        (void)registry_.Renew(result.lease, overloaded);
        return std::move(result);
      },
      [this, spec = std::move(state.spec), access = std::move(access)](Done<RegisterResult> retried,
                                                                       int next) mutable {
        Upsert(std::move(spec), std::move(access), std::move(retried), next);
      },
      std::move(done));
}

void ClusterWriter::Deregister(LeaseId lease, AccessRef access, Done<Removal> done) {
  Remove(lease, std::move(access), std::move(done), 1);
}

void ClusterWriter::Remove(LeaseId lease, AccessRef access, Done<Removal> done, int attempt) {
  const std::optional<ReplicatedInstance> existing = registry_.Find(lease);
  if (!existing) {
    std::move(done)(absl::NotFoundError("lease not found: it expired or was deregistered"));
    return;
  }
  if (absl::Status check =
          CheckWrite(access.get(), WriteAction::kDeregister, existing->spec.service, existing->spec.owner);
      !check.ok()) {
    std::move(done)(std::move(check));
    return;
  }
  EtcdWrite write;
  write.kind = EtcdWrite::Kind::kDelete;
  write.key = keys_.Instance(KeyOf(existing->spec));
  write.if_revision = static_cast<int64_t>(existing->stored_revision);
  write.reason = RemovalReason::kDeregistered;
  Commit<Removal>(
      std::move(write), attempt,
      [removal = Removal{lease, existing->spec.seed_id, existing->spec.service, existing->spec.instance_id}] {
        return removal;
      },
      // It changed: remove what it is now, if the lease is still its.
      [this, lease, access = std::move(access)](Done<Removal> retried, int next) mutable {
        Remove(lease, std::move(access), std::move(retried), next);
      },
      std::move(done));
}

void ClusterWriter::WarnServerError(int32_t server_id, AccessRef access, Done<WarnResult> done) {
  Eject(server_id, std::move(access), std::move(done), 1);
}

void ClusterWriter::Eject(int32_t server_id, AccessRef access, Done<WarnResult> done, int attempt) {
  std::optional<ReplicatedInstance> state = registry_.Find(InstanceKey{"", std::to_string(server_id), server_id});
  if (!state) {
    std::move(done)(WarnResult{false, std::nullopt, {}});
    return;
  }
  if (absl::Status check = CheckWrite(access.get(), WriteAction::kEject, state->spec.service, state->spec.owner);
      !check.ok()) {
    std::move(done)(std::move(check));
    return;
  }
  if (state->ejected) {
    std::move(done)(WarnResult{true, registry_.FindServer(state->spec.service), state->spec.service});
    return;
  }
  state->ejected = true;
  EtcdWrite write;
  write.key = keys_.Instance(KeyOf(state->spec));
  write.value = EncodeInstance(*state, HolderName(state->holder));
  write.if_revision = static_cast<int64_t>(state->stored_revision);
  Commit<WarnResult>(
      std::move(write), attempt,
      [this, service = state->spec.service] { return WarnResult{true, registry_.FindServer(service), service}; },
      [this, server_id, access = std::move(access)](Done<WarnResult> retried, int next) mutable {
        Eject(server_id, std::move(access), std::move(retried), next);
      },
      std::move(done));
}

absl::StatusOr<Duration> ClusterWriter::Heartbeat(LeaseId lease, bool overloaded, const Access* access) {
  if (cut_off()) return CutOffError();
  return Renewed(registry_.Renew(lease, overloaded, access), overloaded);
}

absl::StatusOr<Duration> ClusterWriter::SeedHeartbeat(int32_t server_id, bool overloaded, const Access* access) {
  if (cut_off()) return CutOffError();
  return Renewed(registry_.SeedRenew(server_id, overloaded, access), overloaded);
}

absl::StatusOr<Duration> ClusterWriter::Renewed(absl::StatusOr<Renewal> renewal, bool overloaded) {
  if (!renewal.ok()) {
    if (absl::IsNotFound(renewal.status()) && catching_up_.load(std::memory_order_acquire)) {
      return absl::UnavailableError("this registryd node is catching up with etcd after losing it: try again");
    }
    return renewal.status();
  }
  if (renewal->holder != kHeldHere) peers_.Add(renewal->holder, renewal->lease);
  if (renewal->needs_write) {
    if (std::optional<ReplicatedInstance> state = registry_.Find(renewal->lease)) {
      state->spec.overloaded = overloaded;
      state->ejected = false;  // a heartbeat takes an ejected instance back
      WriteBackground(*state, EtcdWrite::Kind::kPut, RemovalReason::kNone);
    }
  }
  return renewal->ttl;
}

void ClusterWriter::WriteBackground(const ReplicatedInstance& state, EtcdWrite::Kind kind, RemovalReason reason) {
  {
    std::lock_guard<std::mutex> lock(background_mu_);
    if (!background_writes_.insert(state.lease).second) return;
  }
  EtcdWrite write;
  write.kind = kind;
  write.key = keys_.Instance(KeyOf(state.spec));
  if (kind == EtcdWrite::Kind::kPut) write.value = EncodeInstance(state, HolderName(state.holder));
  write.if_revision = static_cast<int64_t>(state.stored_revision);
  write.reason = reason;
  write.done = [this, lease = state.lease](absl::StatusOr<Committed>) {
    // A failure or a lost race needs nothing: the next heartbeat, expiry
    // round or takeover looks again.
    std::lock_guard<std::mutex> lock(background_mu_);
    background_writes_.erase(lease);
  };
  committer_.Submit(std::move(write));
}

bool ClusterWriter::Expire(uint32_t shard) {
  thread_local std::vector<DueLease> due;
  due.clear();
  const bool more = registry_.FindDue(shard, kExpiryRetry, due);
  if (cut_off()) return more;  // the others keep these leases now
  for (const DueLease& lease : due) {
    ReplicatedInstance state;
    state.spec.service = lease.key.service;
    state.spec.instance_id = lease.key.instance_id;
    state.spec.seed_id = lease.key.seed_id;
    state.lease = lease.lease;
    state.stored_revision = lease.stored_revision;
    WriteBackground(state, EtcdWrite::Kind::kDelete, RemovalReason::kExpired);
  }
  return more;
}

void ClusterWriter::Adopt(const std::vector<LeaseId>& leases) {
  for (const LeaseId lease : leases) {
    std::optional<ReplicatedInstance> state = registry_.Find(lease);
    if (!state || state->holder == kHeldHere) continue;
    state->holder = kHeldHere;
    WriteBackground(*state, EtcdWrite::Kind::kPut, RemovalReason::kNone);
  }
}

}  // namespace registryd::cluster
