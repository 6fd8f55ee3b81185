#include "core/session_table.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/core.h>

namespace registryd {
namespace {

// Compares secrets in a time that does not depend on where they differ.
bool SameToken(const SessionToken& a, const SessionToken& b) {
  uint8_t difference = 0;
  for (size_t i = 0; i < a.size(); ++i) difference |= static_cast<uint8_t>(a[i] ^ b[i]);
  return difference == 0;
}

absl::Status Gone(SessionId id) {
  return absl::NotFoundError(fmt::format("session {:016x} not found: it expired or was closed; open a new one", id));
}

}  // namespace

SessionToken NewSessionToken() {
  SessionToken token;
  size_t filled = 0;
  while (filled < token.size()) {
    const ssize_t got = getrandom(token.data() + filled, token.size() - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::runtime_error(fmt::format("getrandom: {}", std::strerror(errno)));
    filled += static_cast<size_t>(got);
  }
  return token;
}

SessionTable::SessionTable(const SessionTableOptions& options) : options_(options) {
  for (uint32_t i = 0; i < options_.shard_count; ++i) {
    shards_.push_back(std::make_unique<Shard>(i, options_.start, options_.tick, options_.wheel_slots));
  }
}

absl::StatusOr<uint32_t> SessionTable::FindLocked(Shard& shard, SessionId id,
                                                  std::optional<SessionAttachment> attachment, TimePoint now) {
  const auto it = shard.by_id.find(id);
  // Past its deadline, the wheel has not ended it yet, but it is over.
  if (it == shard.by_id.end() || shard.slab[it->second].deadline <= now || shard.slab[it->second].ended ||
      shard.slab[it->second].expiring) {
    return Gone(id);
  }
  if (attachment && shard.slab[it->second].holder != kHeldHere) {
    // Another cluster node keeps it now: a stream of the client's resumed it
    // there, or that node took it over while this one was out of touch. In
    // both cases its client resumes it (on any node) to go on.
    return absl::UnavailableError(
        fmt::format("session {:016x} is kept by another registryd node now: resume it", id));
  }
  if (attachment && shard.slab[it->second].attachment != *attachment) {
    return absl::AbortedError(fmt::format("session {:016x} was resumed on another stream", id));
  }
  return it->second;
}

absl::StatusOr<OpenedSession> SessionTable::Open(const SessionSpec& spec, TimePoint now) {
  // The count is checked before the id is drawn: at most one session over
  // per racing opener, which the check's next caller sees.
  if (live_.fetch_add(1, std::memory_order_relaxed) >= options_.max_sessions) {
    live_.fetch_sub(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(
        fmt::format("this registryd holds as many sessions as it may ({})", options_.max_sessions));
  }
  const SessionToken token = NewSessionToken();
  for (;;) {
    const SessionId id = NewLeaseId(static_cast<uint32_t>(RandomId()));
    Shard& shard = ShardOf(id);
    MutexLock lock(&shard.mu);
    if (shard.by_id.contains(id)) continue;
    const uint32_t index = NewIndex(shard);
    Session& session = shard.slab[index];
    session.id = id;
    session.token = token;
    session.owner = spec.owner;
    session.peer = spec.peer;
    session.ttl = spec.ttl;
    session.grace = spec.grace;
    session.attachment = 1;
    session.attached = true;
    session.deadline = now + spec.ttl;
    session.filed_at = shard.wheel.Schedule(index, session.deadline);
    shard.by_id.emplace(id, index);
    return OpenedSession{id, token, session.attachment};
  }
}

uint32_t SessionTable::NewIndex(Shard& shard) {
  if (!shard.free.empty()) {
    const uint32_t index = shard.free.back();
    shard.free.pop_back();
    return index;
  }
  shard.slab.emplace_back();
  return static_cast<uint32_t>(shard.slab.size() - 1);
}

absl::Status SessionTable::CheckOpener(const Session& session, const SessionToken& token, std::string_view owner) {
  if (SameToken(session.token, token) && session.owner == owner) return absl::OkStatus();
  return absl::PermissionDeniedError(fmt::format(
      "session {:016x}: wrong token, or another identity than the one that opened it", session.id));
}

// A later deadline leaves the wheel alone (the entry is filed again when it
// comes round); an earlier one that falls before the entry's tick (a grace
// shorter than what was left of the TTL) needs a new entry.
void SessionTable::SetDeadline(Shard& shard, uint32_t index, TimePoint deadline) {
  Session& session = shard.slab[index];
  session.deadline = deadline;
  if (shard.wheel.FilesEarlier(deadline, session.filed_at)) session.filed_at = shard.wheel.Schedule(index, deadline);
}

absl::Status SessionTable::Refresh(SessionId id, SessionAttachment attachment, TimePoint now) {
  Shard& shard = ShardOf(id);
  MutexLock lock(&shard.mu);
  absl::StatusOr<uint32_t> index = FindLocked(shard, id, attachment, now);
  if (!index.ok()) return index.status();
  SetDeadline(shard, *index, now + shard.slab[*index].ttl);
  return absl::OkStatus();
}

void SessionTable::Break(SessionId id, SessionAttachment attachment, TimePoint now) {
  Shard& shard = ShardOf(id);
  MutexLock lock(&shard.mu);
  absl::StatusOr<uint32_t> index = FindLocked(shard, id, attachment, now);
  if (!index.ok()) return;
  Session& session = shard.slab[*index];
  session.attached = false;
  // Never past TTL after the last message: a client that went silent before
  // its stream was seen to break expires as if it had stayed connected.
  SetDeadline(shard, *index, std::min(session.deadline, now + session.grace));
}

absl::StatusOr<ResumedSession> SessionTable::Resume(SessionId id, const SessionToken& token, std::string_view owner,
                                                    TimePoint now, std::string_view peer) {
  absl::StatusOr<ResumedSession> resumed = Attach(id, token, owner, now, peer);
  if (resumed.ok()) resumed_.fetch_add(1, std::memory_order_relaxed);
  return resumed;
}

absl::StatusOr<ResumedSession> SessionTable::Attach(SessionId id, const SessionToken& token, std::string_view owner,
                                                    TimePoint now, std::string_view peer) {
  Shard& shard = ShardOf(id);
  MutexLock lock(&shard.mu);
  absl::StatusOr<uint32_t> index = FindLocked(shard, id, std::nullopt, now);
  if (!index.ok()) return index.status();
  Session& session = shard.slab[*index];
  if (absl::Status opener = CheckOpener(session, token, owner); !opener.ok()) return opener;
  if (session.holder != kHeldHere) {  // cluster mode: it moves here through the store first
    return absl::UnavailableError(fmt::format("session {:016x} is kept by another node; try again", id));
  }
  ++session.attachment;
  session.attached = true;
  session.peer = std::string(peer);
  SetDeadline(shard, *index, now + session.ttl);
  return ResumedSession{session.attachment, session.ttl, session.grace, session.members.size()};
}

absl::Status SessionTable::Close(SessionId id, SessionAttachment attachment, TimePoint now) {
  Shard& shard = ShardOf(id);
  MutexLock lock(&shard.mu);
  absl::StatusOr<uint32_t> index = FindLocked(shard, id, attachment, now);
  if (!index.ok()) return index.status();
  End(shard, *index, RemovalReason::kDeregistered);
  return absl::OkStatus();
}

absl::StatusOr<SessionSlot> SessionTable::Join(SessionId id, SessionAttachment attachment, LeaseId lease,
                                               TimePoint now) {
  Shard& shard = ShardOf(id);
  MutexLock lock(&shard.mu);
  absl::StatusOr<uint32_t> index = FindLocked(shard, id, attachment, now);
  if (!index.ok()) return index.status();
  Session& session = shard.slab[*index];
  if (session.members.size() >= options_.max_instances_per_session && !session.members.contains(lease)) {
    return absl::ResourceExhaustedError(fmt::format("session {:016x} holds as many instances as a session may ({})",
                                                    id, options_.max_instances_per_session));
  }
  session.members.insert(lease);
  return SlotOf(shard.index, *index);
}

void SessionTable::Leave(SessionSlot slot, LeaseId lease) {
  Shard& shard = ShardAt(slot);
  const uint32_t index = IndexAt(slot);
  MutexLock lock(&shard.mu);
  // An ended session's slot is not reused before its members are removed,
  // and its members set is empty: nothing to do then.
  if (index < shard.slab.size()) shard.slab[index].members.erase(lease);
}

void SessionTable::End(Shard& shard, uint32_t index, RemovalReason reason) {
  Session& session = shard.slab[index];
  shard.by_id.erase(session.id);
  const SessionSlot slot = SlotOf(shard.index, index);
  for (const LeaseId lease : session.members) shard.doomed.push_back(DoomedInstance{slot, lease, reason});
  if (session.members.empty()) {
    shard.free.push_back(index);
  } else {
    shard.doomed_left[index] = session.members.size();
  }
  session = Session{};
  live_.fetch_sub(1, std::memory_order_relaxed);
}

bool SessionTable::Advance(uint32_t shard_index, TimePoint now, size_t budget, std::vector<DoomedInstance>& doomed) {
  Shard& shard = *shards_[shard_index];
  MutexLock lock(&shard.mu);
  // What the last call handed out is removed by now.
  shard.free.insert(shard.free.end(), shard.ending.begin(), shard.ending.end());
  shard.ending.clear();

  // The wheel calls these while the lock above is held.
  const auto check = [&](TimerWheel::Entry index) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    Session& session = shard.slab[index];
    if (session.id == kNoSession || session.filed_at != shard.wheel.NextTickStamp()) {
      return TimerWheel::Verdict{TimerWheel::Verdict::kGone, {}};
    }
    if (session.deadline > now) {
      session.filed_at = shard.wheel.FilingStamp(session.deadline);
      return TimerWheel::Verdict{TimerWheel::Verdict::kRenewed, session.deadline};
    }
    return TimerWheel::Verdict{TimerWheel::Verdict::kExpired, {}};
  };
  const auto expire = [&](TimerWheel::Entry index) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    expired_.fetch_add(1, std::memory_order_relaxed);
    End(shard, index, RemovalReason::kExpired);
  };
  shard.wheel.Advance(now, budget, check, expire);

  for (size_t handed = 0; handed < budget && !shard.doomed.empty(); ++handed) {
    const DoomedInstance instance = shard.doomed.front();
    shard.doomed.pop_front();
    doomed.push_back(instance);
    const uint32_t index = IndexAt(instance.slot);
    const auto left = shard.doomed_left.find(index);
    if (--left->second == 0) {
      shard.doomed_left.erase(left);
      shard.ending.push_back(index);
    }
  }
  return shard.wheel.HasDueWork(now) || !shard.doomed.empty();
}

TimePoint SessionTable::NextTickTime(uint32_t shard_index) {
  Shard& shard = *shards_[shard_index];
  MutexLock lock(&shard.mu);
  // Instances of a closed session to remove: at the next tick, as expiry.
  // (A time before now would do as well, but callers subtract now from it.)
  const bool idle = shard.wheel.size() == 0 && shard.doomed.empty() && shard.ending.empty();
  return idle ? TimePoint::max() : shard.wheel.NextTickTime();
}

SessionSummary SessionTable::SummaryOf(const Session& session) {
  return SessionSummary{session.id,       session.ttl,           session.grace, session.deadline,
                        session.attached, session.members.size(), session.owner, session.peer,
                        session.holder};
}

ReplicatedSession SessionTable::ReplicatedOf(const Session& session) {
  return ReplicatedSession{session.id,     session.ttl,   session.grace,      session.token,          session.owner,
                           session.holder, session.ended, session.end_reason, session.stored_revision};
}

void SessionTable::Apply(const ReplicatedSession& state, TimePoint now, Duration handover) {
  Shard& shard = ShardOf(state.id);
  MutexLock lock(&shard.mu);
  auto it = shard.by_id.find(state.id);
  const bool created = it == shard.by_id.end();
  if (created) {
    it = shard.by_id.emplace(state.id, NewIndex(shard)).first;
    live_.fetch_add(1, std::memory_order_relaxed);  // the store decided: no cap here
  }
  const uint32_t index = it->second;
  Session& session = shard.slab[index];
  const bool was_here = !created && session.holder == kHeldHere;
  session.id = state.id;
  session.token = state.token;
  session.owner = state.owner;
  session.ttl = state.ttl;
  session.grace = state.grace;
  session.holder = state.holder;
  session.ended = state.ended;
  session.end_reason = state.end_reason;
  session.stored_revision = state.stored_revision;
  if (state.holder != kHeldHere) {
    // Its stream here (if any) lost it: its next request gets UNAVAILABLE (FindLocked).
    if (was_here) ++session.attachment;
    session.attached = false;
    session.expiring = false;
    session.peer.clear();
    session.deadline = TimePoint::max();
    return;
  }
  if (!was_here) {
    session.attached = false;
    session.expiring = false;
    // Moved here from another node: that one may still answer its client.
    session.deadline = now + session.ttl + (created ? Duration::zero() : handover);
    session.filed_at = shard.wheel.Schedule(index, session.deadline);
  }
  if (session.ended) SetDeadline(shard, index, now);  // due: its end goes on
}

std::optional<RemovedSession> SessionTable::ApplyRemoval(SessionId id) {
  Shard& shard = ShardOf(id);
  MutexLock lock(&shard.mu);
  const auto it = shard.by_id.find(id);
  if (it == shard.by_id.end()) return std::nullopt;
  const uint32_t index = it->second;
  shard.by_id.erase(it);
  live_.fetch_sub(1, std::memory_order_relaxed);
  Session& session = shard.slab[index];
  std::optional<RemovedSession> removed;
  if (!session.members.empty()) {
    removed = RemovedSession{SlotOf(shard.index, index), session.holder,
                             std::vector<LeaseId>(session.members.begin(), session.members.end())};
  }
  session = Session{};
  // Records still name the slot until the caller moved them out of it.
  if (!removed) shard.free.push_back(index);
  return removed;
}

void SessionTable::FreeSlot(SessionSlot slot) {
  Shard& shard = ShardAt(slot);
  MutexLock lock(&shard.mu);
  shard.free.push_back(IndexAt(slot));
}

std::optional<SessionSlot> SessionTable::JoinReplicated(SessionId id, LeaseId lease) {
  Shard& shard = ShardOf(id);
  MutexLock lock(&shard.mu);
  const auto it = shard.by_id.find(id);
  if (it == shard.by_id.end()) return std::nullopt;
  shard.slab[it->second].members.insert(lease);
  return SlotOf(shard.index, it->second);
}

absl::StatusOr<ReplicatedSession> SessionTable::Stored(SessionId id, TimePoint now,
                                                      std::optional<SessionAttachment> attachment,
                                                      const SessionToken* token, std::string_view owner) {
  Shard& shard = ShardOf(id);
  MutexLock lock(&shard.mu);
  absl::StatusOr<uint32_t> index = FindLocked(shard, id, attachment, now);
  if (!index.ok()) return index.status();
  const Session& session = shard.slab[*index];
  if (token != nullptr) {
    if (absl::Status opener = CheckOpener(session, *token, owner); !opener.ok()) return opener;
  }
  return ReplicatedOf(session);
}

bool SessionTable::FindDue(uint32_t shard_index, TimePoint now, size_t budget, Duration retry,
                           std::vector<DueSession>& due) {
  Shard& shard = *shards_[shard_index];
  MutexLock lock(&shard.mu);
  // As Advance, but a due session stays (filed again for the retry) until
  // the store removes it; one kept elsewhere drops its entry.
  const auto check = [&](TimerWheel::Entry index) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    Session& session = shard.slab[index];
    if (session.id == kNoSession || session.filed_at != shard.wheel.NextTickStamp() ||
        session.holder != kHeldHere) {
      return TimerWheel::Verdict{TimerWheel::Verdict::kGone, {}};
    }
    TimePoint when = session.deadline;
    if (session.ended || session.expiring || session.deadline <= now) {
      if (!session.ended && !session.expiring) expired_.fetch_add(1, std::memory_order_relaxed);
      due.push_back(DueSession{ReplicatedOf(session),
                               std::vector<LeaseId>(session.members.begin(), session.members.end())});
      session.expiring = true;  // no refresh or resume brings it back now
      when = now + retry;
    }
    session.filed_at = shard.wheel.FilingStamp(when);
    return TimerWheel::Verdict{TimerWheel::Verdict::kRenewed, when};
  };
  const auto never_expires = [](TimerWheel::Entry) {};
  shard.wheel.Advance(now, budget, check, never_expires);
  return shard.wheel.HasDueWork(now);
}

std::vector<ReplicatedSession> SessionTable::HeldElsewhere() {
  std::vector<ReplicatedSession> out;
  for (const auto& shard : shards_) {
    MutexLock lock(&shard->mu);
    for (const auto& [id, index] : shard->by_id) {
      const Session& session = shard->slab[index];
      if (session.holder != kHeldHere) out.push_back(ReplicatedOf(session));
    }
  }
  return out;
}

std::optional<SessionSummary> SessionTable::Find(SessionId id) {
  Shard& shard = ShardOf(id);
  MutexLock lock(&shard.mu);
  const auto it = shard.by_id.find(id);
  if (it == shard.by_id.end()) return std::nullopt;
  return SummaryOf(shard.slab[it->second]);
}

bool SessionTable::Holds(SessionId id, LeaseId lease) {
  Shard& shard = ShardOf(id);
  MutexLock lock(&shard.mu);
  const auto it = shard.by_id.find(id);
  return it != shard.by_id.end() && shard.slab[it->second].members.contains(lease);
}

std::optional<SessionState> SessionTable::AtSlot(SessionSlot slot) {
  Shard& shard = ShardAt(slot);
  const uint32_t index = IndexAt(slot);
  MutexLock lock(&shard.mu);
  if (index >= shard.slab.size() || shard.slab[index].id == kNoSession) return std::nullopt;
  const Session& session = shard.slab[index];
  return SessionState{session.id, session.ttl, session.deadline, session.attached, session.holder != kHeldHere};
}

std::vector<SessionSummary> SessionTable::List() {
  std::vector<SessionSummary> out;
  for (const auto& shard : shards_) {
    MutexLock lock(&shard->mu);
    for (const auto& [id, index] : shard->by_id) out.push_back(SummaryOf(shard->slab[index]));
  }
  return out;
}

}  // namespace registryd
