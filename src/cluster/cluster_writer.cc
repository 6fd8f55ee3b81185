#include "cluster/cluster_writer.h"

#include <fmt/core.h>

#include "cluster/stored_instance.h"
#include "cluster/stored_session.h"
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

absl::Status CutOffError() {
  return absl::UnavailableError(
      "this registryd node lost etcd and the other nodes took over its leases: send heartbeats to another node");
}

}  // namespace

ClusterWriter::ClusterWriter(Registry& registry, EtcdCommitter& committer, CatalogFollower& follower,
                             NodeTable& nodes, PeerLinks& peers, const EtcdKeys& keys,
                             const NodeMembership& membership, Duration node_ttl, ViewProof& proof,
                             Duration proof_patience)
    : registry_(registry),
      committer_(committer),
      follower_(follower),
      nodes_(nodes),
      peers_(peers),
      keys_(keys),
      membership_(membership),
      node_ttl_(node_ttl),
      proof_(proof),
      proof_patience_(proof_patience) {}

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
  // As Registry::Register: a numeric instance id is a seed id.
  if (!spec.seed_id) spec.seed_id = SeedIdOf(spec.instance_id);
  Upsert(std::move(spec), std::move(access), std::move(done), 1);
}

void ClusterWriter::OpenSession(SessionSpec spec, Done<OpenedSession> done) {
  SessionTable& sessions = registry_.sessions();
  if (sessions.live_sessions() >= sessions.options().max_sessions) {
    std::move(done)(absl::ResourceExhaustedError(
        fmt::format("the cluster holds as many sessions as it may (--max-sessions={})", sessions.options().max_sessions)));
    return;
  }
  if (cut_off()) {
    std::move(done)(CutOffError());
    return;
  }
  SessionId id;
  do {
    id = NewLeaseId(static_cast<uint32_t>(RandomId()));
  } while (sessions.Find(id));
  const SessionToken token = NewSessionToken();
  ReplicatedSession state;
  state.id = id;
  state.ttl = spec.ttl;
  state.grace = spec.grace;
  state.token = TokenDigest(token);
  state.owner = spec.owner;
  EtcdWrite write;
  write.key = keys_.Session(id);
  write.value = EncodeSession(state, nodes_.self());
  write.if_revision = 0;  // a new key: an id drawn twice loses its race
  // Copied before the call: the retry below takes the spec, and the order in
  // which a call's arguments are made is unspecified.
  std::string owner = spec.owner;
  std::string peer = spec.peer;
  Commit<OpenedSession>(
      std::move(write), 1,
      // Held here now, with nobody attached: the opener's stream takes it.
      [this, id, token, digest = state.token, owner = std::move(owner),
       peer = std::move(peer)]() -> absl::StatusOr<OpenedSession> {
        absl::StatusOr<ResumedSession> attached =
            registry_.sessions().Attach(id, digest, owner, registry_.clock().Now(), peer);
        if (!attached.ok()) return attached.status();
        return OpenedSession{id, token, attached->attachment};
      },
      [this, spec = std::move(spec)](Done<OpenedSession> retried, int) mutable {
        OpenSession(std::move(spec), std::move(retried));
      },
      std::move(done));
}

void ClusterWriter::ResumeSession(SessionId id, SessionToken token, std::string owner, std::string peer,
                                  Done<ResumedSession> done) {
  Resume(id, TokenDigest(token), std::move(owner), std::move(peer), std::move(done), 1, false);
}

void ClusterWriter::Resume(SessionId id, SessionToken digest, std::string owner, std::string peer,
                           Done<ResumedSession> done, int attempt, bool absence_proven) {
  if (cut_off()) {  // the others take this node's sessions over: resume there
    std::move(done)(CutOffError());
    return;
  }
  SessionTable& sessions = registry_.sessions();
  const TimePoint now = registry_.clock().Now();
  absl::StatusOr<ReplicatedSession> stored = sessions.Stored(id, now, std::nullopt, &digest, owner);
  if (absl::IsNotFound(stored.status()) && attempt == 1 && !absence_proven &&
      !proof_.KnownRemoved({ViewProof::KeyKind::kSession, id})) {
    AfterProof<ResumedSession>(std::move(done), [this, id, digest, owner = std::move(owner),
                                                 peer = std::move(peer)](Done<ResumedSession> proven) mutable {
      Resume(id, digest, std::move(owner), std::move(peer), std::move(proven), 1, true);
    });
    return;
  }
  if (!stored.ok()) {
    std::move(done)(stored.status());
    return;
  }
  if (stored->holder == kHeldHere) {  // from one stream to another here: nothing to write
    std::move(done)(sessions.Resume(id, digest, owner, now, peer));
    return;
  }
  // It moves here: from a node that lost its client, or that is gone.
  EtcdWrite write;
  write.key = keys_.Session(id);
  write.value = EncodeSession(*stored, nodes_.self());
  write.if_revision = static_cast<int64_t>(stored->stored_revision);
  Commit<ResumedSession>(
      std::move(write), attempt,
      [this, id, digest, owner, peer] {
        return registry_.sessions().Resume(id, digest, owner, registry_.clock().Now(), peer);
      },
      [this, id, digest, owner, peer](Done<ResumedSession> retried, int next) mutable {
        Resume(id, digest, std::move(owner), std::move(peer), std::move(retried), next, false);
      },
      std::move(done));
}

void ClusterWriter::CloseSession(SessionId id, SessionAttachment attachment, Done<SessionId> done) {
  Close(id, attachment, std::move(done), 1);
}

void ClusterWriter::Close(SessionId id, SessionAttachment attachment, Done<SessionId> done, int attempt) {
  absl::StatusOr<ReplicatedSession> stored = registry_.sessions().Stored(id, registry_.clock().Now(), attachment);
  if (!stored.ok()) {
    std::move(done)(stored.status());
    return;
  }
  // Ended in the store; its holder (this node) then deletes its instances, as deregistered.
  stored->ended = true;
  stored->end_reason = RemovalReason::kDeregistered;
  EtcdWrite write;
  write.key = keys_.Session(id);
  write.value = EncodeSession(*stored, nodes_.self());
  write.if_revision = static_cast<int64_t>(stored->stored_revision);
  Commit<SessionId>(
      std::move(write), attempt, [id] { return id; },
      [this, id, attachment](Done<SessionId> retried, int next) { Close(id, attachment, std::move(retried), next); },
      std::move(done));
}

void ClusterWriter::SeedRegister(RegisterSpec spec, AccessRef access, Done<RegisterResult> done) {
  Upsert(std::move(spec), std::move(access), std::move(done), 1);
}

template <typename Result>
void ClusterWriter::Commit(EtcdWrite write, int attempt, absl::AnyInvocable<absl::StatusOr<Result>() &&> answer,
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
  // Into a session: held by the caller's stream here; the write holds only
  // while the session is as this node sees it (not moved, not ended).
  std::optional<ReplicatedSession> session;
  if (spec.session != kNoSession) {
    absl::StatusOr<ReplicatedSession> stored =
        registry_.sessions().Stored(spec.session, registry_.clock().Now(), spec.session_attachment);
    if (!stored.ok()) {
      std::move(done)(stored.status());
      return;
    }
    // The cap, once per registration (a retry after a lost race holds its place).
    const bool member = existing && existing->session == spec.session;
    if (attempt == 1 && !member) {
      const size_t cap = registry_.sessions().options().max_instances_per_session;
      const std::optional<SessionSummary> summary = registry_.sessions().Find(spec.session);
      {
        std::lock_guard<std::mutex> lock(background_mu_);
        size_t& joining = joining_[spec.session];
        if ((summary ? summary->instances : 0) + joining >= cap) {
          if (joining == 0) joining_.erase(spec.session);
          std::move(done)(absl::ResourceExhaustedError(
              fmt::format("session {:016x} holds as many instances as a session may ({})", spec.session, cap)));
          return;
        }
        ++joining;
      }
      done = [this, id = spec.session, done = std::move(done)](absl::StatusOr<RegisterResult> result) mutable {
        {
          std::lock_guard<std::mutex> lock(background_mu_);
          if (const auto it = joining_.find(id); it != joining_.end() && --it->second == 0) joining_.erase(it);
        }
        std::move(done)(std::move(result));
      };
    }
    session = *std::move(stored);
  }
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
  state.session = spec.session;
  state.spec = std::move(spec);
  EtcdWrite write;
  write.key = keys_.Instance(key);
  write.value = EncodeInstance(state, nodes_.self());
  write.if_revision = existing ? static_cast<int64_t>(existing->stored_revision) : 0;
  if (session) {
    write.guard_key = keys_.Session(session->id);
    write.guard_revision = static_cast<int64_t>(session->stored_revision);
  }
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
  Remove(lease, std::move(access), std::move(done), 1, false);
}

void ClusterWriter::Remove(LeaseId lease, AccessRef access, Done<Removal> done, int attempt, bool absence_proven) {
  const std::optional<ReplicatedInstance> existing = registry_.Find(lease);
  if (!existing && attempt == 1 && !absence_proven && !proof_.KnownRemoved({ViewProof::KeyKind::kLease, lease})) {
    AfterProof<Removal>(std::move(done), [this, lease, access = std::move(access)](Done<Removal> proven) mutable {
      Remove(lease, std::move(access), std::move(proven), 1, true);
    });
    return;
  }
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
        Remove(lease, std::move(access), std::move(retried), next, false);
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

absl::Status ClusterWriter::RefreshSession(SessionId id, SessionAttachment attachment) {
  // As a heartbeat: the others take this node's sessions over, so its
  // clients must resume them on another node before their grace runs out.
  if (cut_off()) return CutOffError();
  absl::Status refreshed = registry_.RefreshSession(id, attachment);
  // Attached here, so known here: not one just opened elsewhere.
  return absl::IsNotFound(refreshed) ? NotFoundHere(std::move(refreshed), std::nullopt) : refreshed;
}

template <typename Result>
void ClusterWriter::AfterProof(Done<Result> done, absl::AnyInvocable<void(Done<Result>) &&> again) {
  const auto now = std::chrono::steady_clock::now();
  proof_.WhenProven(now, now + proof_patience_,
                    [this, done = std::move(done), again = std::move(again)](bool proven) mutable {
                      if (proven) return std::move(again)(std::move(done));
                      unvouched_answers_.fetch_add(1, std::memory_order_relaxed);
                      std::move(done)(absl::UnavailableError(fmt::format(
                          "not found on this registryd node, which could not confirm with etcd within {} ms that "
                          "it was not just made on another node: try again, or another node",
                          std::chrono::duration_cast<std::chrono::milliseconds>(proof_patience_).count())));
                    });
}

absl::Status ClusterWriter::NotFoundHere(absl::Status not_found, std::optional<ViewProof::Key> key) const {
  if (std::chrono::steady_clock::now().time_since_epoch().count() >
      view_vouched_until_ns_.load(std::memory_order_acquire)) {
    unvouched_answers_.fetch_add(1, std::memory_order_relaxed);
    return absl::UnavailableError(
        "this registryd node cannot vouch that its view of the catalog is current (it stalled, lost etcd, or its "
        "watch lags): try again, or another node");
  }
  if (const Duration silence = membership_.Silence(); silence > node_ttl_) {
    return absl::UnavailableError(fmt::format(
        "this registryd node has not heard from etcd for {} ms, longer than --node-ttl: another node may keep "
        "this now; try another node",
        std::chrono::duration_cast<std::chrono::milliseconds>(silence).count()));
  }
  if (key && !proof_.AbsenceProven(*key, std::chrono::steady_clock::now())) {
    unvouched_answers_.fetch_add(1, std::memory_order_relaxed);
    return absl::UnavailableError(
        "not found on this registryd node, which has not yet confirmed with etcd that it was not just made on "
        "another node: try again");
  }
  return not_found;
}

absl::StatusOr<Duration> ClusterWriter::Heartbeat(LeaseId lease, bool overloaded, const Access* access) {
  if (cut_off()) return CutOffError();
  return Renewed([&] { return registry_.Renew(lease, overloaded, access); }, {ViewProof::KeyKind::kLease, lease},
                 overloaded);
}

absl::StatusOr<Duration> ClusterWriter::SeedHeartbeat(int32_t server_id, bool overloaded, const Access* access) {
  if (cut_off()) return CutOffError();
  return Renewed([&] { return registry_.SeedRenew(server_id, overloaded, access); },
                 {ViewProof::KeyKind::kSeedId, static_cast<uint64_t>(static_cast<uint32_t>(server_id))}, overloaded);
}

absl::StatusOr<Duration> ClusterWriter::Renewed(absl::FunctionRef<absl::StatusOr<Renewal>()> renew, ViewProof::Key key,
                                                bool overloaded) {
  absl::StatusOr<Renewal> renewal = renew();
  if (absl::IsNotFound(renewal.status())) {
    if (absl::Status absent = NotFoundHere(renewal.status(), key); !absl::IsNotFound(absent)) return absent;
    // The proof may have come, with the lease, after the first look: look again.
    renewal = renew();
  }
  if (!renewal.ok()) return renewal.status();
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
  thread_local std::vector<DueSession> due_sessions;
  due_sessions.clear();
  bool more = registry_.FindDue(shard, kExpiryRetry, due);
  more |= registry_.FindDueSessions(shard, kExpiryRetry, due_sessions);
  if (cut_off()) return more;  // the others keep these leases and sessions now
  for (const DueSession& session : due_sessions) EndSession(session);
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

void ClusterWriter::EndSession(const DueSession& due) {
  if (!due.state.ended) {  // past its deadline here: first the store says it ended
    ReplicatedSession ended = due.state;
    ended.ended = true;
    ended.end_reason = RemovalReason::kExpired;
    WriteSessionBackground(ended, /*remove=*/false);
    return;
  }
  if (due.members.empty()) {  // its instances are gone: last, the session
    WriteSessionBackground(due.state, /*remove=*/true);
    return;
  }
  for (const LeaseId lease : due.members) {
    if (const std::optional<ReplicatedInstance> state = registry_.Find(lease)) {
      WriteBackground(*state, EtcdWrite::Kind::kDelete, due.state.end_reason);
    }
  }
}

void ClusterWriter::WriteSessionBackground(const ReplicatedSession& state, bool remove) {
  {
    std::lock_guard<std::mutex> lock(background_mu_);
    if (!background_sessions_.insert(state.id).second) return;
  }
  EtcdWrite write;
  write.kind = remove ? EtcdWrite::Kind::kDelete : EtcdWrite::Kind::kPut;
  write.key = keys_.Session(state.id);
  if (!remove) write.value = EncodeSession(state, nodes_.self());
  write.if_revision = static_cast<int64_t>(state.stored_revision);
  write.reason = remove ? state.end_reason : RemovalReason::kNone;
  write.done = [this, id = state.id](absl::StatusOr<Committed>) {
    // As WriteBackground: the next round of FindDue (or takeover) looks again.
    std::lock_guard<std::mutex> lock(background_mu_);
    background_sessions_.erase(id);
  };
  committer_.Submit(std::move(write));
}

void ClusterWriter::AdoptSessions(const std::vector<ReplicatedSession>& sessions) {
  for (const ReplicatedSession& state : sessions) {
    EtcdWrite write;
    write.key = keys_.Session(state.id);
    write.value = EncodeSession(state, nodes_.self());
    write.if_revision = static_cast<int64_t>(state.stored_revision);
    // Applied here, it waits a TTL for its client (SessionTable::Apply); a
    // failed condition: it moved meanwhile, or the next takeover round looks again.
    committer_.Submit(std::move(write));
  }
}

}  // namespace registryd::cluster
