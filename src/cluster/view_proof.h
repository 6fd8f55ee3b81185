// Proof that this node's view of the catalog holds everything etcd
// committed before a given moment.
//
// A lease or session this node does not find may be one registered on
// another node a moment ago, which this node's watch has not brought yet.
// NOT_FOUND then would be a lie the seed's servers never recover from (they
// never register again). A beacon this node writes to etcd after the
// question came, and sees back through its watch, proves the view holds
// everything committed before the question: only then is NOT_FOUND true.
//
// Answers that may wait (a deregistration, a resume) wait for that proof
// (WhenProven). A renewal is answered at once, from memory: the first time
// a key is asked for unfound it gets UNAVAILABLE (try again) and a beacon
// is asked for; once a proof came after that first ask, NOT_FOUND
// (AbsenceProven). A removal this node applied is proof enough for a lease
// or session, whose ids are never used again (NoteRemoved).
//
// A server id (the seed API) is used again: a server registers again under
// it. Its NOT_FOUND rests on a proof sent after its first unanswered
// question, and the next question needs a fresh one; a server that
// registered again on another node between two such questions to a node
// whose watch lags could still be denied (docs/CLUSTER.md).
//
// Thread-safe; only questions about keys not found take its mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"

namespace registryd::cluster {

class ViewProof {
 public:
  using Clock = std::chrono::steady_clock;
  enum class KeyKind : uint8_t { kLease, kSeedId, kSession };
  struct Key {
    KeyKind kind;
    uint64_t id;
    friend bool operator==(const Key&, const Key&) = default;
    template <typename H>
    friend H AbslHashValue(H hash, const Key& key) {
      return H::combine(std::move(hash), key.kind, key.id);
    }
  };
  // Keys asked for unfound, and removals, remembered at most: beyond it
  // the oldest are forgotten (such a key is asked about afresh).
  static constexpr size_t kMaxRemembered = size_t{1} << 16;

  // `want_beacon` asks for a beacon sent from now on; called on the thread
  // of the question, so it must be cheap.
  explicit ViewProof(std::function<void()> want_beacon);
  ViewProof(const ViewProof&) = delete;
  ViewProof& operator=(const ViewProof&) = delete;

  // A beacon sent at `sent` came back through the watch. Runs the waiters
  // it satisfies, on the caller's thread.
  void Proven(Clock::time_point sent);
  // This node applied the removal of `key`.
  void NoteRemoved(Key key);
  // Whether this node applied the removal of `key` (and still remembers it).
  bool KnownRemoved(Key key) const;
  // Whether `key`, not found at `now`, may be answered NOT_FOUND.
  bool AbsenceProven(Key key, Clock::time_point now);
  // Runs `done(true)` once a proof covers `now` (at once if one does), or
  // `done(false)` when none came by `deadline` (ExpireWaiters) or on Stop.
  void WhenProven(Clock::time_point now, Clock::time_point deadline, absl::AnyInvocable<void(bool) &&> done);
  // Gives up on the waiters whose deadline passed by `now`.
  void ExpireWaiters(Clock::time_point now);
  void Stop();

  // Whether a question is still waiting for a beacon sent after it.
  bool BeaconWanted() const;

 private:
  struct Waiter {
    Clock::time_point asked;
    Clock::time_point deadline;
    absl::AnyInvocable<void(bool) &&> done;
  };
  struct Remembered {
    Clock::time_point asked;  // the first question unanswered; a removal: the epoch, proven at once
    uint64_t sequence;        // its place in remembered_order_
  };
  // Runs, outside mu_, `done(proven)` of the waiters `pick` picks.
  void Release(absl::FunctionRef<bool(const Waiter&)> pick, bool proven);
  // Remembers `key` as asked at `asked`, forgetting the oldest keys while
  // there are too many.
  void Remember(Key key, Clock::time_point asked);

  const std::function<void()> want_beacon_;
  mutable std::mutex mu_;
  Clock::time_point proven_as_of_;  // guarded by mu_
  Clock::time_point wanted_as_of_;  // guarded by mu_: the latest moment a question needs proven
  // Guarded by mu_: keys not found, and removals. The order holds each
  // entry's key and sequence, oldest first, and entries replaced since.
  absl::flat_hash_map<Key, Remembered> remembered_;
  std::deque<std::pair<Key, uint64_t>> remembered_order_;
  uint64_t next_sequence_ = 0;
  std::deque<Waiter> waiters_;  // guarded by mu_, in arrival order
  bool stopped_ = false;        // guarded by mu_
};

}  // namespace registryd::cluster
