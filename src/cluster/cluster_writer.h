// Cluster mode's RegistryWriter: a change is written to etcd first (group
// committed, conditional on the state this node saw), and answered once
// this node's follower applied it, so the client sees it here at once and
// every node sees it within its watch's delay. A write that lost a race
// with another node's (its condition failed) is tried again on the newer
// state.
//
// Heartbeats never wait for etcd: a lease kept here is renewed in memory; a
// lease kept by another node is answered from memory and its renewal
// forwarded (PeerLinks). Only what changes what clients see (the overloaded
// flag, the end of an ejection) is written, without waiting.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "cluster/catalog_follower.h"
#include "cluster/etcd_committer.h"
#include "cluster/etcd_keys.h"
#include "cluster/node_membership.h"
#include "cluster/node_table.h"
#include "cluster/peer_links.h"
#include "cluster/view_proof.h"
#include "core/registry_writer.h"

namespace registryd::cluster {

class ClusterWriter final : public RegistryWriter {
 public:
  // `membership` and `node_ttl`: how long this node has not heard from etcd,
  // and how long before the others take its leases over. `proof`: whether
  // what this node does not find is absent (view_proof.h); a call waits for
  // one at most `proof_patience`.
  ClusterWriter(Registry& registry, EtcdCommitter& committer, CatalogFollower& follower, NodeTable& nodes,
                PeerLinks& peers, const EtcdKeys& keys, const NodeMembership& membership, Duration node_ttl,
                ViewProof& proof, Duration proof_patience);

  void Register(RegisterSpec spec, AccessRef access, Done<RegisterResult> done) override;
  void SeedRegister(RegisterSpec spec, AccessRef access, Done<RegisterResult> done) override;
  void Deregister(LeaseId lease, AccessRef access, Done<Removal> done) override;
  void WarnServerError(int32_t server_id, AccessRef access, Done<WarnResult> done) override;
  // Sessions are cluster-wide: one node, the holder of a session, keeps it
  // alive in memory (refreshes write nothing); opening, moving to another
  // node (a resume there), and the end are written to etcd. A registration
  // on a session is written conditional on the session as this node saw it.
  void OpenSession(SessionSpec spec, Done<OpenedSession> done) override;
  void ResumeSession(SessionId id, SessionToken token, std::string owner, std::string peer,
                     Done<ResumedSession> done) override;
  void CloseSession(SessionId id, SessionAttachment attachment, Done<SessionId> done) override;
  absl::Status RefreshSession(SessionId id, SessionAttachment attachment) override;
  absl::StatusOr<Duration> Heartbeat(LeaseId lease, bool overloaded, const Access* access) override;
  absl::StatusOr<Duration> SeedHeartbeat(int32_t server_id, bool overloaded, const Access* access) override;
  bool Expire(uint32_t shard) override;
  Registry& registry() override { return registry_; }

  // Takes over the leases (their holder is gone or cannot be reached): each
  // is written with this node as its holder, unless it changed meanwhile.
  void Adopt(const std::vector<LeaseId>& leases);
  // Takes over the sessions (their holder is gone): each waits here for its
  // client's resume for its TTL, whatever its grace (SessionTable::Apply).
  void AdoptSessions(const std::vector<ReplicatedSession>& sessions);
  // While cut off from etcd (the other nodes took over its leases), the
  // node refuses heartbeats, so that their clients move to a node that
  // keeps their leases.
  void set_cut_off(bool cut_off) { cut_off_.store(cut_off, std::memory_order_release); }
  bool cut_off() const { return cut_off_.load(std::memory_order_acquire); }
  // Until when this node vouches that its view of the catalog is current;
  // the monitor renews it while it is (cluster.h). After it (a stall, a
  // watch that lags, back in touch after a cut-off) a lease or session
  // this node does not find may have been registered or taken over
  // elsewhere meanwhile, so it gets UNAVAILABLE (try again), not NOT_FOUND
  // (the seed's servers never register again after NOT_FOUND). The same
  // while it has not heard from etcd for longer than --node-ttl: its copy
  // of a lease the others took over lapses here.
  void VouchForViewUntil(std::chrono::steady_clock::time_point until) {
    view_vouched_until_ns_.store(until.time_since_epoch().count(), std::memory_order_release);
  }
  uint64_t unvouched_answers() const { return unvouched_answers_.load(std::memory_order_relaxed); }

 private:
  // Submits `write`. Once etcd committed it and this node applied it,
  // `answer()` makes the answer; a write whose condition failed (another
  // node's write won) is tried again by `retry(done, attempt + 1)` on the
  // state that won, a few times (kMaxAttempts) before ABORTED.
  template <typename Result>
  void Commit(EtcdWrite write, int attempt, absl::AnyInvocable<absl::StatusOr<Result>() &&> answer,
              absl::AnyInvocable<void(Done<Result>, int) &&> retry, Done<Result> done);
  // Register and SeedRegister; `attempt` counts tries after lost races.
  // Each checks the caller's access against the state its write is
  // conditional on, on every attempt.
  void Upsert(RegisterSpec spec, AccessRef access, Done<RegisterResult> done, int attempt);
  // `absence_proven`: a lease not found is known absent (AfterProof).
  void Remove(LeaseId lease, AccessRef access, Done<Removal> done, int attempt, bool absence_proven);
  void Eject(int32_t server_id, AccessRef access, Done<WarnResult> done, int attempt);
  // `digest`: TokenDigest of the client's token, as the session table keeps it.
  void Resume(SessionId id, SessionToken digest, std::string owner, std::string peer, Done<ResumedSession> done,
              int attempt, bool absence_proven);
  void Close(SessionId id, SessionAttachment attachment, Done<SessionId> done, int attempt);
  // The next step of a due session's end: write it ended, delete its
  // instances, delete it (fire and forget; FindDue asks again).
  void EndSession(const DueSession& due);
  // Writes (or, without `state`, deletes) the session's key unless a write
  // of it is under way, conditional on the revision this node read.
  void WriteSessionBackground(const ReplicatedSession& state, bool remove);
  // `renew` looks the lease up and renews it; again once a proof came that
  // `key` is absent.
  absl::StatusOr<Duration> Renewed(absl::FunctionRef<absl::StatusOr<Renewal>()> renew, ViewProof::Key key,
                                   bool overloaded);
  // A lease or session this node does not find may live on another node:
  // UNAVAILABLE naming why, while its view may be stale or is not yet
  // proven to hold `key`'s registration (none: known here before); else
  // `not_found`.
  absl::Status NotFoundHere(absl::Status not_found, std::optional<ViewProof::Key> key) const;
  // For a call that may wait: `again(done)` runs once this node's view is
  // proven to hold everything etcd committed until now; `done` gets
  // UNAVAILABLE when that cannot be shown within the patience.
  template <typename Result>
  void AfterProof(Done<Result> done, absl::AnyInvocable<void(Done<Result>) &&> again);
  // Writes `state` unless a write of its lease is under way, or the key
  // changed since this node read it (fire and forget).
  void WriteBackground(const ReplicatedInstance& state, EtcdWrite::Kind kind, RemovalReason reason);
  LeaseId NewLease(std::string_view service);
  std::string HolderName(NodeSlot slot) const;

  Registry& registry_;
  EtcdCommitter& committer_;
  CatalogFollower& follower_;
  NodeTable& nodes_;
  PeerLinks& peers_;
  const EtcdKeys& keys_;
  const NodeMembership& membership_;
  const Duration node_ttl_;
  ViewProof& proof_;
  const Duration proof_patience_;
  std::atomic<bool> cut_off_{false};
  std::atomic<std::chrono::steady_clock::rep> view_vouched_until_ns_{0};
  mutable std::atomic<uint64_t> unvouched_answers_{0};

  std::mutex background_mu_;
  absl::flat_hash_set<LeaseId> background_writes_;  // leases with a background write in flight
  absl::flat_hash_set<SessionId> background_sessions_;  // sessions with one
  // Registrations into each session written but not yet answered: a
  // session's cap counts them with its members (the instances of one
  // request are written together, before any is applied).
  absl::flat_hash_map<SessionId, size_t> joining_;
};

}  // namespace registryd::cluster
