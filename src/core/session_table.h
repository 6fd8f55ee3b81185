// Sessions: one lease for any number of instances, kept alive by its client's
// stream rather than by a renewal per instance.
//
// A session has a TTL and a grace period (at most the TTL). While its stream
// is open, any message on it refreshes the session (deadline = now + TTL);
// when the stream breaks, the session waits for the grace period (deadline =
// break + grace, but never past TTL after the last message, so a client
// that went silent before the break was seen expires at TTL) for its client
// to resume it with the session's id and secret token. Past its deadline the
// session expires, and every instance in it is removed.
//
// Liveness costs one timer-wheel entry per session: an instance in a session
// has no wheel entry of its own (Shard drops it), and refreshing a session
// of any size moves one deadline.
//
// Membership: the session keeps the leases of its instances; an instance's
// record says it is in a session and names the session's slot. Both sides
// change together under the instance's shard lock, which is taken before the
// session's (Join, Leave): the lock order is registry shard, then session
// shard, never the reverse. Expiry takes only the session's lock: it moves
// the expired session's leases to a list of the doomed, which the registry
// removes in bounded batches (Advance), each under its own shard's lock.
//
// Sharded by the session id's low bits, each shard under its own mutex, with
// its own wheel advanced from the registry shard of the same index (on that
// shard's home queue). No global lock.
//
// Cluster mode (Apply and the calls after it): every node holds every
// session as the cluster's store does; one node, its holder, keeps its
// deadline. A session held elsewhere has no deadline here, and its end, like
// its instances', comes from the store: the holder finds it due (FindDue),
// marks it ended in the store, deletes its instances, then the session.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/change.h"
#include "core/clock.h"
#include "core/lease_id.h"
#include "core/replica.h"
#include "core/mutex.h"
#include "core/timer_wheel.h"

namespace registryd {

using SessionId = uint64_t;
inline constexpr SessionId kNoSession = 0;
// The secret that resumes a session, besides its id (which watchers and
// operators may see).
using SessionToken = std::array<uint8_t, 16>;
// Where a session lives in its shard, as an instance's record names it: the
// shard in the low kMaxShardBits bits, the shard's slab index above.
using SessionSlot = uint32_t;

struct SessionSpec {
  Duration ttl{};    // already within the server's bounds
  Duration grace{};  // after the stream breaks, at most ttl; zero: expire at once
  std::string owner;  // the opener's identity (empty without a policy)
  std::string peer;   // where its stream comes from (for operators)
};

// Which stream holds a session: a resume on a new stream takes it from the
// old one, whose later messages and end then change nothing.
using SessionAttachment = uint64_t;

struct OpenedSession {
  SessionId id;
  SessionToken token;
  SessionAttachment attachment;
};

struct ResumedSession {
  SessionAttachment attachment;
  Duration ttl;
  Duration grace;
  size_t instances;
};

// What an operator sees of a session (registryctl sessions).
struct SessionSummary {
  SessionId id = kNoSession;
  Duration ttl{};
  Duration grace{};
  TimePoint deadline{};
  bool attached = false;  // its stream is open
  size_t instances = 0;
  std::string owner;
  std::string peer;
  NodeSlot holder = kHeldHere;  // cluster mode: the node that keeps it
};

// How a session stands, as a reader of one of its instances shows it.
struct SessionState {
  SessionId id = kNoSession;
  Duration ttl{};
  TimePoint deadline{};  // TimePoint::max() when another cluster node keeps it
  bool attached = false;
  bool held_elsewhere = false;  // cluster mode: another node keeps it (attached is not known here)
};

// A session as the cluster's store holds it (cluster mode).
struct ReplicatedSession {
  SessionId id = kNoSession;
  Duration ttl{};
  Duration grace{};
  // What resumes it: in cluster mode a digest of the client's token, so
  // that the store never holds the secret.
  SessionToken token{};
  std::string owner;
  NodeSlot holder = kHeldHere;
  // It expired or was closed: its instances go, with `end_reason`.
  bool ended = false;
  RemovalReason end_reason = RemovalReason::kExpired;
  uint64_t stored_revision = 0;
};

// A session this node keeps whose deadline passed, or that ended and still
// has instances (cluster mode): the holder writes its end to the store.
struct DueSession {
  ReplicatedSession state;
  std::vector<LeaseId> members;
};

// A session whose key left the store with instances still in it (an edited
// store): they become leases of their own, kept by the session's holder.
struct RemovedSession {
  SessionSlot slot;
  NodeSlot holder;
  std::vector<LeaseId> members;
};

// An instance whose session ended: the registry removes it when it is still
// in that session (a Register may have moved it since).
struct DoomedInstance {
  SessionSlot slot;
  LeaseId lease;
  RemovalReason reason;  // kExpired, or kDeregistered when the client closed it
};

struct SessionTableOptions {
  uint32_t shard_count = 16;  // a power of two, at most 2^kMaxShardBits
  TimePoint start{};
  Duration tick = std::chrono::milliseconds(100);
  size_t wheel_slots = 1024;
  size_t max_sessions = 1'000'000;
  size_t max_instances_per_session = 10'000;
};

class SessionTable {
 public:
  explicit SessionTable(const SessionTableOptions& options);
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  // A new session, attached to the stream that opened it. RESOURCE_EXHAUSTED
  // at max_sessions.
  absl::StatusOr<OpenedSession> Open(const SessionSpec& spec, TimePoint now);
  // A message on the session's stream: deadline = now + TTL. NOT_FOUND when
  // the session is gone (or past its deadline), ABORTED when another stream
  // took it over.
  absl::Status Refresh(SessionId id, SessionAttachment attachment, TimePoint now);
  // The session's stream ended without closing it: the grace period starts
  // (unless another stream took it over).
  void Break(SessionId id, SessionAttachment attachment, TimePoint now);
  // A new stream takes the session over: the token and the owner must be
  // the opener's (PERMISSION_DENIED, nothing changed), and the session not
  // expired (NOT_FOUND). Its deadline is then now + TTL.
  absl::StatusOr<ResumedSession> Resume(SessionId id, const SessionToken& token, std::string_view owner,
                                        TimePoint now, std::string_view peer = {});
  // As Resume, not counted as one: the stream that opened a session in
  // cluster mode takes it once the store holds it.
  absl::StatusOr<ResumedSession> Attach(SessionId id, const SessionToken& token, std::string_view owner,
                                        TimePoint now, std::string_view peer = {});
  // The client ends the session: its instances are removed, as
  // deregistered, from the next Advance of its shard on. As Refresh, else.
  absl::Status Close(SessionId id, SessionAttachment attachment, TimePoint now);

  // Under the lock of the shard of the instance `lease` names. Adds the
  // lease to the session; the record then names the returned slot. As
  // Refresh, else; RESOURCE_EXHAUSTED at max_instances_per_session.
  absl::StatusOr<SessionSlot> Join(SessionId id, SessionAttachment attachment, LeaseId lease, TimePoint now);
  // Under the lock of the instance's shard: the instance left its session
  // (deregistered, moved, replaced). Nothing when the session ended.
  void Leave(SessionSlot slot, LeaseId lease);

  // Expires the shard's sessions past their deadline, and hands out at most
  // `budget` instances of ended sessions to remove. Returns true when due
  // work remains. Runs on one thread per shard (its home queue): a slot is
  // reused only after a later call, once the caller removed what the
  // earlier one handed out.
  bool Advance(uint32_t shard, TimePoint now, size_t budget, std::vector<DoomedInstance>& doomed);
  // When Advance has something to do next: the next tick while a session is
  // filed or instances of ended ones wait (TimePoint::max() when none).
  TimePoint NextTickTime(uint32_t shard);

  std::optional<SessionSummary> Find(SessionId id);
  // Whether the lease's instance is in the session.
  bool Holds(SessionId id, LeaseId lease);
  // Every live session, in no particular order.
  std::vector<SessionSummary> List();
  // The session an instance's record names by its slot; nullopt once it
  // ended (its instances are about to go). Callers may hold the instance's
  // registry shard lock (the lock order).
  std::optional<SessionState> AtSlot(SessionSlot slot);

  // Cluster mode. Creates or updates the session as the store holds it. One
  // that comes to be held here gets a TTL from now, detached: its client
  // resumes it (an open or a resume through this node). A takeover waits
  // that long too, whatever the session's grace: the client did not break
  // its stream, the holder's death or cut-off did. One that moved here from
  // another node waits `handover` more: how long that node may still answer
  // the client after the store moved the session (a cut-off node learns it
  // is cut off only some time after its etcd lease ended); the client is
  // sent away only then, and its TTL to come starts only then. One held
  // elsewhere has no deadline here, and the stream that held it here is
  // detached (its requests get UNAVAILABLE).
  void Apply(const ReplicatedSession& state, TimePoint now, Duration handover = Duration::zero());
  // The store deleted the session. Nothing when it had no instances left;
  // else the caller makes them leases of their own (Registry), then calls
  // FreeSlot.
  std::optional<RemovedSession> ApplyRemoval(SessionId id);
  void FreeSlot(SessionSlot slot);
  // Under the lock of the instance's shard: the store put the instance in
  // the session. Nothing when the session is unknown here.
  std::optional<SessionSlot> JoinReplicated(SessionId id, LeaseId lease);
  // The session as stored, for a write that builds on it: NOT_FOUND when it
  // is gone or ended. With `token` and `owner`: PERMISSION_DENIED unless
  // they are the opener's. With `attachment`: ABORTED unless that stream
  // holds it here.
  absl::StatusOr<ReplicatedSession> Stored(SessionId id, TimePoint now,
                                           std::optional<SessionAttachment> attachment = std::nullopt,
                                           const SessionToken* token = nullptr, std::string_view owner = {});
  // The sessions this node keeps that are due (past their deadline, or
  // ended with instances left), at most `budget` wheel entries; each is
  // filed again `retry` later until the store removes it. True when due
  // work remains.
  bool FindDue(uint32_t shard, TimePoint now, size_t budget, Duration retry, std::vector<DueSession>& due);
  // The sessions another node keeps (to take over those of nodes gone).
  std::vector<ReplicatedSession> HeldElsewhere();

  size_t live_sessions() const { return live_.load(std::memory_order_relaxed); }
  uint64_t expired_sessions() const { return expired_.load(std::memory_order_relaxed); }
  uint64_t resumed_sessions() const { return resumed_.load(std::memory_order_relaxed); }
  const SessionTableOptions& options() const { return options_; }

 private:
  struct Session {
    SessionId id = kNoSession;  // kNoSession: the slab entry is free
    SessionToken token{};
    std::string owner;
    std::string peer;
    Duration ttl{};
    Duration grace{};
    TimePoint deadline{};
    TimerWheel::TickStamp filed_at = 0;
    SessionAttachment attachment = 0;
    bool attached = false;
    absl::flat_hash_set<LeaseId> members;
    // Cluster mode (Apply): who keeps it, and the store's view of it.
    NodeSlot holder = kHeldHere;
    bool ended = false;
    RemovalReason end_reason = RemovalReason::kExpired;
    uint64_t stored_revision = 0;
    bool expiring = false;  // held here, due: its end is being written
  };
  struct Shard {
    Shard(uint32_t index, TimePoint start, Duration tick, size_t slots) : index(index), wheel(start, tick, slots) {}
    const uint32_t index;
    Mutex mu;
    std::vector<Session> slab ABSL_GUARDED_BY(mu);
    std::vector<uint32_t> free ABSL_GUARDED_BY(mu);  // slab indexes to reuse
    // Ended sessions' slab indexes whose members were all handed out: free
    // from the next Advance on.
    std::vector<uint32_t> ending ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<SessionId, uint32_t> by_id ABSL_GUARDED_BY(mu);
    TimerWheel wheel ABSL_GUARDED_BY(mu);
    std::deque<DoomedInstance> doomed ABSL_GUARDED_BY(mu);
    // Slab indexes of ended sessions whose members are still in `doomed`,
    // with how many are.
    absl::flat_hash_map<uint32_t, size_t> doomed_left ABSL_GUARDED_BY(mu);
  };

  Shard& ShardOf(SessionId id) { return *shards_[ShardOfLease(id, options_.shard_count)]; }
  SessionSlot SlotOf(uint32_t shard, uint32_t index) const { return index << kMaxShardBits | shard; }
  Shard& ShardAt(SessionSlot slot) { return *shards_[slot & ((1u << kMaxShardBits) - 1)]; }
  static uint32_t IndexAt(SessionSlot slot) { return slot >> kMaxShardBits; }
  // The session with this id, live and held by `attachment` (nullopt: any).
  absl::StatusOr<uint32_t> FindLocked(Shard& shard, SessionId id, std::optional<SessionAttachment> attachment,
                                      TimePoint now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  void SetDeadline(Shard& shard, uint32_t index, TimePoint deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Ends the session: it is forgotten, its members doomed.
  void End(Shard& shard, uint32_t index, RemovalReason reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  static SessionSummary SummaryOf(const Session& session);
  static ReplicatedSession ReplicatedOf(const Session& session);
  // A slab entry for a new session (its id not yet set).
  static uint32_t NewIndex(Shard& shard) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  static absl::Status CheckOpener(const Session& session, const SessionToken& token, std::string_view owner);

  const SessionTableOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<size_t> live_{0};
  std::atomic<uint64_t> expired_{0};
  std::atomic<uint64_t> resumed_{0};
};

// A fresh token from the OS's random source.
SessionToken NewSessionToken();

}  // namespace registryd
