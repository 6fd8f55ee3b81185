// Sessions in the registry (core/session_table.h), on a manual clock: one
// session keeps any number of instances, its end removes them, a broken
// stream leaves it in grace, and resuming needs its token and owner. In
// cluster mode every node follows the store's sessions, and only a
// session's holder keeps its deadline.
#include "core/session_table.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/lease_id.h"
#include "core/registry.h"
#include "core/replica.h"
#include "test_specs.h"

namespace registryd {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using test::DiscoveredIds;
using test::ExpireDue;
using test::NativeSpec;
using Ids = std::vector<std::string>;

constexpr Duration kTick = milliseconds(100);
constexpr Duration kSessionTtl = seconds(10);

// 64 slots of 100 ms: one rotation is 6.4 s, so the 10 s TTLs below wrap.
RegistryOptions TestOptions() {
  RegistryOptions options;
  options.tick = kTick;
  options.wheel_slots = 64;
  options.shard_count = 4;
  options.max_instances_per_session = 100;
  return options;
}

class SessionTest : public test::RegistryFixture {
 protected:
  SessionTest() : RegistryFixture(TestOptions()) {}

  OpenedSession Open(Duration grace = kSessionTtl, std::string owner = "") {
    absl::StatusOr<OpenedSession> opened = registry_.OpenSession(SessionSpec{kSessionTtl, grace, std::move(owner), ""});
    EXPECT_TRUE(opened.ok()) << opened.status();
    return *opened;
  }
  static RegisterSpec InSession(const OpenedSession& session, std::string service, std::string instance_id) {
    RegisterSpec spec = NativeSpec(std::move(service), std::move(instance_id), kSessionTtl);
    spec.session = session.id;
    spec.session_attachment = session.attachment;
    return spec;
  }
  // The removals logged for `service` after `revision`, with their reasons.
  std::vector<RemovalReason> RemovalsSince(std::string_view service, uint64_t revision) {
    std::vector<Change> changes;
    EXPECT_TRUE(registry_.ChangesSince(registry_.ShardOfService(service), service, revision, registry_.Revision(),
                                       changes));
    std::vector<RemovalReason> reasons;
    for (const Change& change : changes) {
      if (change.kind == ChangeKind::kRemoved) reasons.push_back(change.reason);
    }
    return reasons;
  }
};

TEST_F(SessionTest, ASessionKeepsItsInstancesWhileItIsRefreshedAndTheyExpireWithIt) {
  const OpenedSession session = Open();
  for (int i = 0; i < 20; ++i) Register(InSession(session, i % 2 ? "books" : "films", "i" + std::to_string(i)));
  const uint64_t before = registry_.Revision();

  // Far past the instances' own TTL, only the session is refreshed.
  for (int step = 0; step < 10; ++step) {
    clock_.Advance(seconds(9));
    ASSERT_TRUE(registry_.RefreshSession(session.id, session.attachment).ok());
    EXPECT_TRUE(ExpireDue(registry_).empty());
  }
  EXPECT_EQ(DiscoveredIds(registry_, "books").size(), 10u);
  EXPECT_EQ(registry_.Revision(), before) << "a refresh changes nothing watchers see";

  // Silent: gone at TTL, within a tick, every instance with it.
  clock_.Advance(kSessionTtl - nanoseconds(1));
  EXPECT_TRUE(ExpireDue(registry_).empty());
  clock_.Advance(kTick);
  EXPECT_EQ(ExpireDue(registry_).size(), 20u);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{});
  EXPECT_EQ(DiscoveredIds(registry_, "films"), Ids{});
  EXPECT_EQ(RemovalsSince("books", before), std::vector<RemovalReason>(10, RemovalReason::kExpired));
  EXPECT_EQ(registry_.live_instances(), 0u);
  EXPECT_EQ(registry_.sessions().live_sessions(), 0u);
  EXPECT_EQ(registry_.sessions().expired_sessions(), 1u);
  EXPECT_EQ(registry_.RefreshSession(session.id, session.attachment).code(), absl::StatusCode::kNotFound);
}

TEST_F(SessionTest, ABrokenStreamLeavesTheSessionInGraceAndAResumeKeepsEveryInstanceUnseen) {
  const OpenedSession session = Open(seconds(3));
  Register(InSession(session, "books", "b1"));
  Register(InSession(session, "books", "b2"));
  const uint64_t before = registry_.Revision();

  registry_.BreakSession(session.id, session.attachment);
  clock_.Advance(seconds(3) - nanoseconds(1));
  EXPECT_TRUE(ExpireDue(registry_).empty());
  absl::StatusOr<ResumedSession> resumed = registry_.ResumeSession(session.id, session.token, "");
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->instances, 2u);
  EXPECT_EQ(resumed->ttl, kSessionTtl);

  // Resumed: a full TTL from the resume, not the grace.
  clock_.Advance(kSessionTtl - nanoseconds(1));
  EXPECT_TRUE(ExpireDue(registry_).empty());
  EXPECT_EQ(DiscoveredIds(registry_, "books"), (Ids{"b1", "b2"}));
  EXPECT_EQ(registry_.Revision(), before) << "watchers see no REMOVED and no ADDED";
  EXPECT_EQ(registry_.sessions().resumed_sessions(), 1u);
}

// What the dashboard shows of an instance: the session it lives by, open or
// in grace, and that session's deadline rather than its own.
TEST_F(SessionTest, AReaderOfAnInstanceFindsItsSessionByTheRecordsSlot) {
  const OpenedSession session = Open(seconds(3));
  Register(InSession(session, "books", "b1"));
  Register(NativeSpec("books", "own", kSessionTtl));
  const auto states = [&] {
    std::vector<std::pair<std::string, std::optional<SessionState>>> found;
    registry_.Members("books", 0, 10, [&](const InstanceRecord& record) {
      found.emplace_back(std::string(record.instance_id()),
                         record.in_session ? registry_.sessions().AtSlot(record.filed_at) : std::nullopt);
    });
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return found;
  };
  auto found = states();
  ASSERT_EQ(found.size(), 2u);
  ASSERT_TRUE(found[0].second.has_value());
  EXPECT_EQ(found[0].second->id, session.id);
  EXPECT_TRUE(found[0].second->attached);
  EXPECT_EQ(found[0].second->deadline, clock_.Now() + kSessionTtl);
  EXPECT_FALSE(found[1].second.has_value()) << "a lease of its own has no session";

  clock_.Advance(seconds(1));
  registry_.BreakSession(session.id, session.attachment);
  found = states();
  ASSERT_TRUE(found[0].second.has_value());
  EXPECT_FALSE(found[0].second->attached);
  EXPECT_EQ(found[0].second->deadline, clock_.Now() + seconds(3)) << "in grace";

  // Its time left is the session's: the grace now, not its own TTL.
  std::vector<Duration> left;
  registry_.Members("books", 0, 10, [&](const InstanceRecord& record) {
    if (record.in_session) left.push_back(registry_.TimeLeft(record, clock_.Now()));
  });
  EXPECT_EQ(left, std::vector<Duration>{seconds(3)});
}

TEST_F(SessionTest, WithoutAResumeTheSessionEndsWhenItsGraceDoes) {
  const OpenedSession session = Open(seconds(3));
  Register(InSession(session, "books", "b1"));
  clock_.Advance(seconds(1));
  registry_.BreakSession(session.id, session.attachment);
  clock_.Advance(seconds(3) - nanoseconds(1));
  EXPECT_TRUE(ExpireDue(registry_).empty());
  clock_.Advance(kTick);
  EXPECT_EQ(ExpireDue(registry_).size(), 1u);
  EXPECT_EQ(registry_.ResumeSession(session.id, session.token, "").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SessionTest, ABreakSeenLateNeverKeepsASilentClientsSessionPastItsTtl) {
  const OpenedSession session = Open(seconds(5));
  Register(InSession(session, "books", "b1"));
  // The client went silent at once; its dead connection is noticed 8 s later.
  clock_.Advance(seconds(8));
  registry_.BreakSession(session.id, session.attachment);
  clock_.Advance(seconds(2) - nanoseconds(1));
  EXPECT_TRUE(ExpireDue(registry_).empty());
  clock_.Advance(kTick);
  EXPECT_EQ(ExpireDue(registry_).size(), 1u) << "TTL after its last message, not the break plus grace";
}

TEST_F(SessionTest, NoGraceEndsTheSessionAtTheNextTick) {
  const OpenedSession session = Open(Duration::zero());
  Register(InSession(session, "books", "b1"));
  clock_.Advance(milliseconds(30));
  registry_.BreakSession(session.id, session.attachment);
  clock_.Advance(kTick);
  EXPECT_EQ(ExpireDue(registry_).size(), 1u);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{});
}

TEST_F(SessionTest, AWrongTokenOrOwnerIsRefusedAndChangesNothing) {
  const OpenedSession session = Open(seconds(3), "alice");
  Register(InSession(session, "books", "b1"));
  registry_.BreakSession(session.id, session.attachment);

  SessionToken wrong = session.token;
  wrong[7] ^= 1;
  EXPECT_EQ(registry_.ResumeSession(session.id, wrong, "alice").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(registry_.ResumeSession(session.id, session.token, "mallory").status().code(),
            absl::StatusCode::kPermissionDenied);
  // Still in grace, from the break: the refusals did not resume it.
  clock_.Advance(seconds(3));
  EXPECT_EQ(ExpireDue(registry_).size(), 1u);
}

TEST_F(SessionTest, AResumeTakesTheSessionFromItsOldStream) {
  const OpenedSession session = Open(seconds(3));
  Register(InSession(session, "books", "b1"));
  // The client reconnected before registryd saw its old stream break.
  absl::StatusOr<ResumedSession> resumed = registry_.ResumeSession(session.id, session.token, "");
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(registry_.RefreshSession(session.id, session.attachment).code(), absl::StatusCode::kAborted);
  registry_.BreakSession(session.id, session.attachment);  // the old stream ends: no grace starts
  clock_.Advance(seconds(9));
  EXPECT_TRUE(registry_.RefreshSession(session.id, resumed->attachment).ok());
  EXPECT_TRUE(ExpireDue(registry_).empty());
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"b1"});
  RegisterSpec stale = InSession(session, "books", "b2");
  EXPECT_EQ(registry_.Register(stale).status().code(), absl::StatusCode::kAborted);
}

TEST_F(SessionTest, ClosingRemovesEveryInstanceAsDeregistered) {
  const OpenedSession session = Open();
  Register(InSession(session, "books", "b1"));
  Register(InSession(session, "books", "b2"));
  const uint64_t before = registry_.Revision();
  ASSERT_TRUE(registry_.CloseSession(session.id, session.attachment).ok());
  EXPECT_EQ(ExpireDue(registry_).size(), 2u);
  EXPECT_EQ(RemovalsSince("books", before), std::vector<RemovalReason>(2, RemovalReason::kDeregistered));
  EXPECT_EQ(registry_.sessions().expired_sessions(), 0u);
}

// The expiry alarm is set from NextTickTime: a closed session's instances
// wait for the next tick, never for a time the alarm cannot be set to.
TEST_F(SessionTest, AClosedSessionsInstancesAreDueAtTheNextTick) {
  const OpenedSession session = Open();
  Register(InSession(session, "books", "b1"));
  clock_.Advance(milliseconds(30));
  ASSERT_TRUE(registry_.CloseSession(session.id, session.attachment).ok());
  for (uint32_t shard = 0; shard < registry_.shard_count(); ++shard) {
    const TimePoint next = registry_.NextTickTime(shard);
    EXPECT_GE(next, clock_.Now() - kTick) << "shard " << shard;
    EXPECT_LE(next, clock_.Now() + kTick) << "shard " << shard;
  }
}

TEST_F(SessionTest, AnInstanceRegisteredAgainMovesIntoOrOutOfASession) {
  const LeaseId own = Register(NativeSpec("books", "b1", seconds(2)));
  const OpenedSession first = Open();
  const OpenedSession second = Open();
  // Into the first session: its own 2 s TTL no longer applies.
  EXPECT_EQ(Register(InSession(first, "books", "b1")), own);
  clock_.Advance(seconds(5));
  EXPECT_TRUE(ExpireDue(registry_).empty());
  // Into the second: the first's end leaves it.
  Register(InSession(second, "books", "b1"));
  EXPECT_EQ(registry_.sessions().Find(first.id)->instances, 0u);
  EXPECT_EQ(registry_.sessions().Find(second.id)->instances, 1u);
  ASSERT_TRUE(registry_.CloseSession(first.id, first.attachment).ok());
  EXPECT_TRUE(ExpireDue(registry_).empty());
  // Out of any session: a lease of its own again, which the second's end leaves.
  Register(NativeSpec("books", "b1", seconds(20)));
  ASSERT_TRUE(registry_.CloseSession(second.id, second.attachment).ok());
  EXPECT_TRUE(ExpireDue(registry_).empty());
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"b1"});
  clock_.Advance(seconds(20));
  EXPECT_EQ(ExpireDue(registry_).size(), 1u);
}

TEST_F(SessionTest, ADeregisteredInstanceLeavesItsSession) {
  const OpenedSession session = Open();
  const LeaseId lease = Register(InSession(session, "books", "b1"));
  Register(InSession(session, "books", "b2"));
  ASSERT_TRUE(registry_.Deregister(lease).ok());
  EXPECT_EQ(registry_.sessions().Find(session.id)->instances, 1u);
  ASSERT_TRUE(registry_.CloseSession(session.id, session.attachment).ok());
  EXPECT_EQ(ExpireDue(registry_).size(), 1u);
}

TEST_F(SessionTest, AHeartbeatOnASessionsInstanceLeavesItToTheSession) {
  const OpenedSession session = Open(Duration::zero());
  const LeaseId lease = Register(InSession(session, "books", "b1"));
  clock_.Advance(seconds(5));
  const absl::StatusOr<Duration> renewed = registry_.Heartbeat(lease, false);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  registry_.BreakSession(session.id, session.attachment);
  clock_.Advance(kTick);
  EXPECT_EQ(ExpireDue(registry_).size(), 1u) << "the heartbeat gave it no deadline of its own";
}

TEST_F(SessionTest, ASessionHoldsAtMostItsCapOfInstances) {
  const OpenedSession session = Open();
  for (int i = 0; i < 100; ++i) Register(InSession(session, "books", "b" + std::to_string(i)));
  const absl::StatusOr<RegisterResult> over = registry_.Register(InSession(session, "books", "b100"));
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(over.status().message().find("100"), std::string_view::npos) << over.status();
  EXPECT_EQ(DiscoveredIds(registry_, "books").size(), 100u) << "nothing made for the refused one";
  EXPECT_EQ(registry_.live_instances(), 100u);
  EXPECT_TRUE(registry_.Register(InSession(session, "books", "b7")).ok()) << "a member registers again";
}

TEST_F(SessionTest, AnEndedSessionsInstancesGoInBatches) {
  RegistryOptions options = TestOptions();
  options.expiry_batch = 16;
  options.shard_count = 1;
  ManualClock clock;
  Registry registry(options, clock);
  const OpenedSession session = *registry.OpenSession(SessionSpec{kSessionTtl, kSessionTtl, "", ""});
  for (int i = 0; i < 100; ++i) {
    RegisterSpec spec = NativeSpec("books", "b" + std::to_string(i), kSessionTtl);
    spec.session = session.id;
    spec.session_attachment = session.attachment;
    ASSERT_TRUE(registry.Register(spec).ok());
  }
  ASSERT_TRUE(registry.CloseSession(session.id, session.attachment).ok());
  std::vector<Removal> removed;
  EXPECT_TRUE(registry.Advance(0, removed)) << "more to do";
  EXPECT_EQ(removed.size(), 16u);
  while (registry.Advance(0, removed)) {
  }
  EXPECT_EQ(removed.size(), 100u);
  EXPECT_EQ(registry.live_instances(), 0u);
}

TEST_F(SessionTest, ARegistrationOnAnEndedSessionIsRefusedAndMakesNothing) {
  const OpenedSession session = Open(Duration::zero());
  registry_.BreakSession(session.id, session.attachment);
  clock_.Advance(kTick);
  ExpireDue(registry_);
  EXPECT_EQ(registry_.Register(InSession(session, "books", "b1")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.live_instances(), 0u);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{});
}

TEST_F(SessionTest, SessionsPastTheirCapAreRefused) {
  RegistryOptions options = TestOptions();
  options.max_sessions = 2;
  ManualClock clock;
  Registry registry(options, clock);
  const SessionSpec spec{kSessionTtl, kSessionTtl, "", ""};
  ASSERT_TRUE(registry.OpenSession(spec).ok());
  const OpenedSession second = *registry.OpenSession(spec);
  EXPECT_EQ(registry.OpenSession(spec).status().code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(registry.CloseSession(second.id, second.attachment).ok());
  EXPECT_TRUE(registry.OpenSession(spec).ok());
}

// Cluster mode (SessionTable::Apply and the calls after it): every node
// holds every session as the store does; only its holder keeps a deadline.
constexpr NodeSlot kOtherNode = 3;
constexpr Duration kGrace = seconds(3);
constexpr Duration kInstanceTtl = seconds(2);  // shorter than the session's: it shows whose deadline counts
constexpr Duration kRetry = seconds(1);
// Two ids of the same session shard (the low bits route): the second may
// take the first's slot.
constexpr SessionId kFirstId = 0x5e55'0000'0000'0104;
constexpr SessionId kSecondId = 0x5e55'0000'0000'0204;
constexpr SessionId kThirdId = 0x5e55'0000'0000'0304;

class ClusterSessionTest : public test::RegistryFixture {
 protected:
  ClusterSessionTest() : RegistryFixture(TestOptions()) {}

  // A session as the store holds it. Its token stands for the digest a
  // cluster node keeps: the table compares whatever it was given.
  static ReplicatedSession StoredSession(SessionId id, NodeSlot holder, uint64_t stored_revision = 1) {
    ReplicatedSession state;
    state.id = id;
    state.ttl = kSessionTtl;
    state.grace = kGrace;
    state.token = NewSessionToken();
    state.owner = "alice";
    state.holder = holder;
    state.stored_revision = stored_revision;
    return state;
  }
  // An instance of "books" as the store holds it, in `session` (kNoSession:
  // a lease of its own, kept by `holder`).
  static ReplicatedInstance StoredInstance(std::string instance_id, SessionId session, NodeSlot holder = kHeldHere) {
    ReplicatedInstance state;
    state.spec = NativeSpec("books", std::move(instance_id), kInstanceTtl);
    state.lease = NewLeaseId(LeaseRouteOf("books"));
    state.session = session;
    state.holder = holder;
    state.stored_revision = 1;
    return state;
  }
  void Apply(const ReplicatedInstance& state) { ASSERT_TRUE(registry_.Apply(state).ok()); }

  // The stream that opens or resumes the session through this node.
  SessionAttachment Attach(const ReplicatedSession& session) {
    absl::StatusOr<ResumedSession> attached =
        registry_.sessions().Attach(session.id, session.token, session.owner, clock_.Now());
    EXPECT_TRUE(attached.ok()) << attached.status();
    return attached.ok() ? attached->attachment : 0;
  }
  absl::StatusCode Refresh(SessionId id, SessionAttachment attachment) {
    return registry_.RefreshSession(id, attachment).code();
  }
  absl::StatusCode StoredCode(SessionId id, std::optional<SessionAttachment> attachment = std::nullopt,
                              const SessionToken* token = nullptr, std::string_view owner = {}) {
    return registry_.sessions().Stored(id, clock_.Now(), attachment, token, owner).status().code();
  }

  // What one round of the expiry alarms finds, on every shard.
  std::vector<DueSession> DueSessions() {
    std::vector<DueSession> due;
    for (uint32_t shard = 0; shard < registry_.shard_count(); ++shard) {
      while (registry_.FindDueSessions(shard, kRetry, due)) {
      }
    }
    return due;
  }
  std::vector<LeaseId> DueLeases() {
    std::vector<DueLease> due;
    for (uint32_t shard = 0; shard < registry_.shard_count(); ++shard) {
      while (registry_.FindDue(shard, kRetry, due)) {
      }
    }
    std::vector<LeaseId> leases;
    for (const DueLease& lease : due) leases.push_back(lease.lease);
    return leases;
  }

  // An instance as a reader of "books" (Members) sees it: its time left,
  // and the session slot its record names (nullopt: a lease of its own).
  Duration TimeLeftOf(std::string_view instance_id) {
    std::optional<Duration> left;
    registry_.Members("books", 0, 100, [&](const InstanceRecord& record) {
      if (record.instance_id() == instance_id) left = registry_.TimeLeft(record, clock_.Now());
    });
    EXPECT_TRUE(left) << instance_id << " is not listed";
    return left.value_or(Duration::zero());
  }
  std::optional<SessionSlot> SlotOf(std::string_view instance_id) {
    std::optional<SessionSlot> slot;
    registry_.Members("books", 0, 100, [&](const InstanceRecord& record) {
      if (record.instance_id() == instance_id && record.in_session) slot = record.filed_at;
    });
    return slot;
  }
  static std::vector<LeaseId> Sorted(std::vector<LeaseId> leases) {
    std::sort(leases.begin(), leases.end());
    return leases;
  }
};

TEST_F(ClusterSessionTest, ASessionHeldElsewhereNeverFallsDueHereAndListsItsHolder) {
  const ReplicatedSession session = StoredSession(kFirstId, kOtherNode);
  registry_.ApplySession(session);
  Apply(StoredInstance("b1", session.id));
  // Many TTLs, and many turns of the 6.4 s wheel: its holder keeps it, not this node.
  for (int step = 0; step < 10; ++step) {
    clock_.Advance(kSessionTtl);
    EXPECT_TRUE(DueSessions().empty());
    EXPECT_TRUE(DueLeases().empty());
  }
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"b1"});
  EXPECT_EQ(TimeLeftOf("b1"), kSessionTtl) << "no deadline here: its TTL at most";
  EXPECT_EQ(StoredCode(session.id), absl::StatusCode::kOk) << "a resume through this node may move it here";
  // Which it must do through the store first.
  EXPECT_EQ(registry_.sessions().Attach(session.id, session.token, "alice", clock_.Now()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(registry_.ResumeSession(session.id, session.token, "alice").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(registry_.sessions().resumed_sessions(), 0u);

  const std::vector<SessionSummary> listed = registry_.sessions().List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, session.id);
  EXPECT_EQ(listed[0].holder, kOtherNode);
  EXPECT_FALSE(listed[0].attached);
  EXPECT_EQ(listed[0].instances, 1u);
  EXPECT_EQ(registry_.sessions().live_sessions(), 1u);
}

// A session held elsewhere has no deadline here: no attachment may give it
// one, not even the table's own count of attachments (0 for a session never
// held here, one past the last stream's for one that moved away), which no
// stream holds. A refresh would make this node call it expired (NOT_FOUND)
// once that deadline passed, while its holder keeps it.
TEST_F(ClusterSessionTest, NoAttachmentRefreshesASessionHeldElsewhere) {
  const ReplicatedSession never_here = StoredSession(kFirstId, kOtherNode);
  registry_.ApplySession(never_here);
  ReplicatedSession moved = StoredSession(kSecondId, kHeldHere);
  registry_.ApplySession(moved);
  const SessionAttachment stream = Attach(moved);
  moved.holder = kOtherNode;
  moved.stored_revision = 2;
  registry_.ApplySession(moved);
  for (const SessionId id : {never_here.id, moved.id}) {
    for (SessionAttachment attachment = 0; attachment <= stream + 2; ++attachment) {
      EXPECT_EQ(Refresh(id, attachment), absl::StatusCode::kUnavailable) << "attachment " << attachment;
    }
  }
  clock_.Advance(2 * kSessionTtl);
  for (const SessionId id : {never_here.id, moved.id}) {
    EXPECT_EQ(registry_.sessions().Find(id)->deadline, TimePoint::max());
    EXPECT_EQ(StoredCode(id), absl::StatusCode::kOk) << "a resume through this node may still move it here";
  }
}

TEST_F(ClusterSessionTest, ASessionThatComesHereWaitsDetachedForItsClient) {
  ReplicatedSession session = StoredSession(kFirstId, kOtherNode);
  registry_.ApplySession(session);
  clock_.Advance(seconds(1));
  session.holder = kHeldHere;
  session.stored_revision = 2;
  registry_.ApplySession(session);
  std::optional<SessionSummary> summary = registry_.sessions().Find(session.id);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->holder, kHeldHere);
  EXPECT_FALSE(summary->attached);
  EXPECT_EQ(summary->deadline, clock_.Now() + kSessionTtl);

  SessionToken wrong = session.token;
  wrong[3] ^= 1;
  EXPECT_EQ(registry_.sessions().Attach(session.id, wrong, "alice", clock_.Now()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(registry_.ResumeSession(session.id, wrong, "alice").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(registry_.ResumeSession(session.id, session.token, "mallory").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(registry_.sessions().Find(session.id)->attached) << "the refusals attached nothing";

  clock_.Advance(seconds(2));
  const SessionAttachment opener = Attach(session);
  summary = registry_.sessions().Find(session.id);
  EXPECT_TRUE(summary->attached);
  EXPECT_EQ(summary->deadline, clock_.Now() + kSessionTtl);
  EXPECT_EQ(Refresh(session.id, opener), absl::StatusCode::kOk);
  EXPECT_EQ(registry_.sessions().resumed_sessions(), 0u) << "an opener's attach is no resume";

  // Another stream here resumes it: the first one lost it.
  const absl::StatusOr<ResumedSession> resumed = registry_.ResumeSession(session.id, session.token, "alice");
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(registry_.sessions().resumed_sessions(), 1u);
  EXPECT_EQ(Refresh(session.id, opener), absl::StatusCode::kAborted);
  EXPECT_EQ(Refresh(session.id, resumed->attachment), absl::StatusCode::kOk);
}

// Taken over from a node that may still answer its client (cut off, it
// learns so only later), a session waits for that client beyond its TTL;
// only one that moved here from another node.
TEST_F(ClusterSessionTest, ASessionThatComesHereWaitsItsTtlPlusTheHandover) {
  ReplicatedSession session = StoredSession(kFirstId, kOtherNode);
  registry_.ApplySession(session, seconds(2));
  EXPECT_EQ(registry_.sessions().Find(session.id)->deadline, TimePoint::max()) << "held elsewhere";
  session.holder = kHeldHere;
  session.stored_revision = 2;
  registry_.ApplySession(session, seconds(2));
  EXPECT_EQ(registry_.sessions().Find(session.id)->deadline, clock_.Now() + kSessionTtl + seconds(2));
  clock_.Advance(kSessionTtl + seconds(1));
  EXPECT_TRUE(DueSessions().empty()) << "a TTL has passed, the handover has not";
  clock_.Advance(seconds(2));
  const std::vector<DueSession> due = DueSessions();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].state.id, session.id);

  // First seen already held here (this node restarted, loading its own): no
  // other node answers its client.
  const ReplicatedSession own = StoredSession(kSecondId, kHeldHere);
  registry_.ApplySession(own, seconds(2));
  EXPECT_EQ(registry_.sessions().Find(own.id)->deadline, clock_.Now() + kSessionTtl);
}

TEST_F(ClusterSessionTest, TheStreamThatHeldASessionLosesItWhenItMovesToAnotherNode) {
  ReplicatedSession session = StoredSession(kFirstId, kHeldHere);
  registry_.ApplySession(session);
  Apply(StoredInstance("b1", session.id));
  const SessionAttachment stream = Attach(session);
  ASSERT_EQ(Refresh(session.id, stream), absl::StatusCode::kOk);

  // Its client resumed it on another node, or that node took it over while
  // this one was out of touch: either way the stream's client must resume
  // it (UNAVAILABLE, which clients retry), not give it up (ABORTED).
  session.holder = kOtherNode;
  session.stored_revision = 2;
  registry_.ApplySession(session);
  EXPECT_EQ(Refresh(session.id, stream), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StoredCode(session.id, stream), absl::StatusCode::kUnavailable);
  EXPECT_EQ(registry_.CloseSession(session.id, stream).code(), absl::StatusCode::kUnavailable);
  registry_.BreakSession(session.id, stream);  // the old stream ends: no grace starts
  const std::optional<SessionSummary> summary = registry_.sessions().Find(session.id);
  ASSERT_TRUE(summary) << "the old stream's close ended nothing";
  EXPECT_FALSE(summary->attached);
  EXPECT_EQ(summary->deadline, TimePoint::max());
  // The deadline it had here comes round in the wheel: nothing is due.
  for (int step = 0; step < 4; ++step) {
    clock_.Advance(kSessionTtl);
    EXPECT_TRUE(DueSessions().empty());
  }
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"b1"});
}

TEST_F(ClusterSessionTest, AHeldSessionPastItsDeadlineIsDueUntilTheStoreRemovesIt) {
  const ReplicatedSession session = StoredSession(kFirstId, kHeldHere, 5);
  registry_.ApplySession(session);
  const ReplicatedInstance b1 = StoredInstance("b1", session.id);
  const ReplicatedInstance b2 = StoredInstance("b2", session.id);
  Apply(b1);
  Apply(b2);
  const SessionAttachment stream = Attach(session);
  clock_.Advance(kSessionTtl - nanoseconds(1));
  EXPECT_TRUE(DueSessions().empty());
  clock_.Advance(kTick);
  std::vector<DueSession> due = DueSessions();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].state.id, session.id);
  EXPECT_FALSE(due[0].state.ended) << "the store is told it ended first";
  EXPECT_EQ(due[0].state.stored_revision, 5u);
  EXPECT_EQ(Sorted(due[0].members), Sorted({b1.lease, b2.lease}));
  EXPECT_EQ(registry_.sessions().expired_sessions(), 1u) << "counted once, on its holder";

  // Its end is being written: nothing brings it back.
  EXPECT_EQ(Refresh(session.id, stream), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.ResumeSession(session.id, session.token, "alice").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(StoredCode(session.id), absl::StatusCode::kNotFound);

  // Due again once the retry delay is over, not before.
  clock_.Advance(kRetry - nanoseconds(1));
  EXPECT_TRUE(DueSessions().empty());
  clock_.Advance(kTick);
  due = DueSessions();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_FALSE(due[0].state.ended);
  EXPECT_EQ(registry_.sessions().expired_sessions(), 1u) << "a retry is no second expiry";

  // The store says it ended, then its instances go, then its key.
  ReplicatedSession ended = session;
  ended.ended = true;
  ended.stored_revision = 6;
  registry_.ApplySession(ended);
  ASSERT_TRUE(registry_.ApplyRemoval(InstanceKey{"books", "b1", std::nullopt}, RemovalReason::kExpired));
  ASSERT_TRUE(registry_.ApplyRemoval(InstanceKey{"books", "b2", std::nullopt}, RemovalReason::kExpired));
  clock_.Advance(kTick);
  due = DueSessions();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_TRUE(due[0].state.ended);
  EXPECT_EQ(due[0].state.stored_revision, 6u);
  EXPECT_TRUE(due[0].members.empty()) << "its key is next";
  registry_.ApplySessionRemoval(session.id);
  EXPECT_FALSE(registry_.sessions().Find(session.id));
  EXPECT_EQ(registry_.sessions().live_sessions(), 0u);
  clock_.Advance(kRetry + kTick);
  EXPECT_TRUE(DueSessions().empty());
}

// A client closed it (or another node wrote its end): the holder removes
// its instances at once, with the reason the store names.
TEST_F(ClusterSessionTest, ASessionAppliedEndedIsDueAtOnceWithItsReason) {
  ReplicatedSession session = StoredSession(kFirstId, kHeldHere);
  registry_.ApplySession(session);
  const ReplicatedInstance b1 = StoredInstance("b1", session.id);
  Apply(b1);
  const SessionAttachment stream = Attach(session);
  ReplicatedSession elsewhere = StoredSession(kSecondId, kOtherNode);
  registry_.ApplySession(elsewhere);

  clock_.Advance(seconds(1));
  session.ended = true;
  session.end_reason = RemovalReason::kDeregistered;
  session.stored_revision = 2;
  registry_.ApplySession(session);
  elsewhere.ended = true;
  registry_.ApplySession(elsewhere);  // its holder ends it, not this node
  EXPECT_EQ(Refresh(session.id, stream), absl::StatusCode::kNotFound);
  EXPECT_EQ(StoredCode(session.id), absl::StatusCode::kNotFound);
  EXPECT_EQ(StoredCode(elsewhere.id), absl::StatusCode::kNotFound);

  clock_.Advance(kTick);
  const std::vector<DueSession> due = DueSessions();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].state.id, session.id);
  EXPECT_TRUE(due[0].state.ended);
  EXPECT_EQ(due[0].state.end_reason, RemovalReason::kDeregistered);
  EXPECT_EQ(due[0].members, std::vector<LeaseId>{b1.lease});
}

TEST_F(ClusterSessionTest, ATakenOverSessionWaitsForItsClientForItsTtlWhateverItsGrace) {
  // Its holder died or was cut off: the client did not break its stream, so
  // it gets a TTL from the takeover to resume, even without a grace.
  for (const Duration grace : {kGrace, Duration::zero()}) {
    ReplicatedSession session = StoredSession(grace == kGrace ? kFirstId : kSecondId, kOtherNode);
    session.grace = grace;
    registry_.ApplySession(session);
    Apply(StoredInstance(grace == kGrace ? "b1" : "b2", session.id));
    clock_.Advance(seconds(1));
    session.holder = kHeldHere;
    session.stored_revision = 2;
    registry_.ApplySession(session);
    EXPECT_EQ(registry_.sessions().Find(session.id)->deadline, clock_.Now() + kSessionTtl);
    EXPECT_EQ(TimeLeftOf(grace == kGrace ? "b1" : "b2"), kSessionTtl);
    EXPECT_TRUE(registry_.ResumeSession(session.id, session.token, "alice").ok());
  }
}

TEST_F(ClusterSessionTest, ATakenOverSessionNobodyResumesIsDueAfterItsTtl) {
  ReplicatedSession session = StoredSession(kFirstId, kOtherNode);
  session.grace = Duration::zero();
  registry_.ApplySession(session);
  session.holder = kHeldHere;
  registry_.ApplySession(session);
  clock_.Advance(kSessionTtl - nanoseconds(1));
  EXPECT_TRUE(DueSessions().empty());
  clock_.Advance(kTick);
  const std::vector<DueSession> due = DueSessions();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].state.id, session.id);
}

TEST_F(ClusterSessionTest, AnInstanceAppliedIntoASessionLivesAsLongAsTheSession) {
  const ReplicatedSession session = StoredSession(kFirstId, kOtherNode);
  registry_.ApplySession(session);
  // The store names the node that wrote it as its holder; in a session that is not read.
  const ReplicatedInstance b1 = StoredInstance("b1", session.id, kOtherNode);
  Apply(b1);
  EXPECT_TRUE(registry_.sessions().Holds(session.id, b1.lease));
  EXPECT_EQ(registry_.Find(b1.lease)->session, session.id) << "what a write that builds on it names";
  EXPECT_TRUE(SlotOf("b1"));
  EXPECT_EQ(TimeLeftOf("b1"), kSessionTtl);
  EXPECT_EQ(registry_.Totals().held_elsewhere, 0u) << "no takeover moves it: its session's does";
  // A heartbeat gives it no deadline of its own: past its TTL it lives on.
  const absl::StatusOr<Renewal> renewal = registry_.Renew(b1.lease, false);
  ASSERT_TRUE(renewal.ok()) << renewal.status();
  EXPECT_EQ(renewal->holder, kHeldHere) << "nothing to forward to another node";
  clock_.Advance(kInstanceTtl + kTick);
  EXPECT_TRUE(DueLeases().empty());
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"b1"});
  EXPECT_EQ(TimeLeftOf("b1"), kSessionTtl);
}

TEST_F(ClusterSessionTest, AnInstanceInASessionHeldHereLivesByTheSessionsDeadline) {
  const ReplicatedSession session = StoredSession(kFirstId, kHeldHere);
  registry_.ApplySession(session);
  const ReplicatedInstance b1 = StoredInstance("b1", session.id);
  Apply(b1);
  const SessionAttachment stream = Attach(session);
  for (int step = 0; step < 5; ++step) {
    clock_.Advance(seconds(5));
    ASSERT_TRUE(registry_.Renew(b1.lease, false).ok());
    ASSERT_EQ(Refresh(session.id, stream), absl::StatusCode::kOk);
    EXPECT_TRUE(DueLeases().empty());
  }
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"b1"});
  clock_.Advance(seconds(4));
  EXPECT_EQ(TimeLeftOf("b1"), kSessionTtl - seconds(4)) << "the session's, not its own TTL";
}

TEST_F(ClusterSessionTest, AnInstanceAppliedOutOfItsSessionHasALeaseOfItsOwnAgain) {
  const ReplicatedSession session = StoredSession(kFirstId, kHeldHere);
  registry_.ApplySession(session);
  const SessionAttachment stream = Attach(session);
  ReplicatedInstance here = StoredInstance("here", session.id);
  ReplicatedInstance there = StoredInstance("there", session.id);
  Apply(here);
  Apply(there);
  clock_.Advance(seconds(5));
  here.session = kNoSession;
  here.stored_revision = 2;
  Apply(here);
  there.session = kNoSession;
  there.holder = kOtherNode;
  there.stored_revision = 2;
  Apply(there);
  EXPECT_FALSE(registry_.sessions().Holds(session.id, here.lease));
  EXPECT_FALSE(registry_.sessions().Holds(session.id, there.lease));
  EXPECT_EQ(registry_.sessions().Find(session.id)->instances, 0u);
  EXPECT_EQ(registry_.Find(here.lease)->session, kNoSession);
  EXPECT_FALSE(SlotOf("here"));
  EXPECT_EQ(TimeLeftOf("here"), kInstanceTtl);
  EXPECT_EQ(registry_.Totals().held_elsewhere, 1u);

  // The session lives on; the one kept here runs out at its own TTL, the
  // other node's never here.
  clock_.Advance(kInstanceTtl - nanoseconds(1));
  ASSERT_EQ(Refresh(session.id, stream), absl::StatusCode::kOk);
  EXPECT_TRUE(DueLeases().empty());
  clock_.Advance(kTick);
  EXPECT_EQ(DueLeases(), std::vector<LeaseId>{here.lease});
}

// Registered on its own first (kept by another node), then into a session.
TEST_F(ClusterSessionTest, AnInstanceOfAnotherNodeAppliedIntoASessionNoLongerCountsAsItsLease) {
  const ReplicatedSession session = StoredSession(kFirstId, kHeldHere);
  registry_.ApplySession(session);
  ReplicatedInstance b1 = StoredInstance("b1", kNoSession, kOtherNode);
  Apply(b1);
  ASSERT_EQ(registry_.Totals().held_elsewhere, 1u);
  b1.session = session.id;
  b1.stored_revision = 2;
  Apply(b1);
  EXPECT_EQ(registry_.Totals().held_elsewhere, 0u);
  EXPECT_TRUE(registry_.sessions().Holds(session.id, b1.lease));
  const SessionAttachment stream = Attach(session);
  clock_.Advance(kInstanceTtl + kTick);
  ASSERT_EQ(Refresh(session.id, stream), absl::StatusCode::kOk);
  EXPECT_TRUE(DueLeases().empty()) << "it lives by its session";
  EXPECT_EQ(TimeLeftOf("b1"), kSessionTtl);
}

TEST_F(ClusterSessionTest, AnInstanceAppliedIntoAnotherSessionLeavesTheFirst) {
  const ReplicatedSession first = StoredSession(kFirstId, kOtherNode);
  const ReplicatedSession second = StoredSession(kSecondId, kOtherNode);
  registry_.ApplySession(first);
  registry_.ApplySession(second);
  ReplicatedInstance b1 = StoredInstance("b1", first.id);
  Apply(b1);
  b1.session = second.id;
  b1.stored_revision = 2;
  Apply(b1);
  EXPECT_FALSE(registry_.sessions().Holds(first.id, b1.lease));
  EXPECT_TRUE(registry_.sessions().Holds(second.id, b1.lease));
  EXPECT_EQ(registry_.sessions().Find(first.id)->instances, 0u);
  EXPECT_EQ(registry_.Find(b1.lease)->session, second.id);
}

TEST_F(ClusterSessionTest, AnInstanceTheStoreRemovesLeavesItsSession) {
  const ReplicatedSession session = StoredSession(kFirstId, kOtherNode);
  registry_.ApplySession(session);
  const ReplicatedInstance b1 = StoredInstance("b1", session.id);
  const ReplicatedInstance b2 = StoredInstance("b2", session.id);
  Apply(b1);
  Apply(b2);
  ASSERT_EQ(registry_.sessions().Find(session.id)->instances, 2u);
  ASSERT_TRUE(registry_.ApplyRemoval(InstanceKey{"books", "b1", std::nullopt}, RemovalReason::kExpired));
  EXPECT_EQ(registry_.sessions().Find(session.id)->instances, 1u);
  EXPECT_FALSE(registry_.sessions().Holds(session.id, b1.lease));
  EXPECT_TRUE(registry_.sessions().Holds(session.id, b2.lease));
}

// An edited store: a session's key went before its instances did.
TEST_F(ClusterSessionTest, ASessionRemovedWithInstancesLeavesThemToItsHolder) {
  const ReplicatedSession here = StoredSession(kFirstId, kHeldHere);
  const ReplicatedSession elsewhere = StoredSession(kSecondId, kOtherNode);
  registry_.ApplySession(here);
  registry_.ApplySession(elsewhere);
  registry_.ApplySession(elsewhere);  // applied again: still one session
  EXPECT_EQ(registry_.sessions().live_sessions(), 2u);
  const ReplicatedInstance kept_here = StoredInstance("kept-here", here.id);
  const ReplicatedInstance kept_elsewhere = StoredInstance("kept-elsewhere", elsewhere.id);
  Apply(kept_here);
  Apply(kept_elsewhere);
  clock_.Advance(seconds(1));

  registry_.ApplySessionRemoval(here.id);
  registry_.ApplySessionRemoval(elsewhere.id);
  EXPECT_FALSE(registry_.sessions().Find(here.id));
  EXPECT_FALSE(registry_.sessions().Find(elsewhere.id));
  EXPECT_TRUE(registry_.sessions().List().empty());
  EXPECT_EQ(registry_.sessions().live_sessions(), 0u);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), (Ids{"kept-elsewhere", "kept-here"}));
  EXPECT_EQ(registry_.Find(kept_here.lease)->session, kNoSession);
  EXPECT_EQ(registry_.Find(kept_here.lease)->holder, kHeldHere);
  EXPECT_EQ(registry_.Find(kept_elsewhere.lease)->session, kNoSession);
  EXPECT_EQ(registry_.Find(kept_elsewhere.lease)->holder, kOtherNode);
  EXPECT_EQ(registry_.Totals().held_elsewhere, 1u);
  EXPECT_EQ(TimeLeftOf("kept-here"), kInstanceTtl);
  EXPECT_EQ(TimeLeftOf("kept-elsewhere"), kInstanceTtl);

  // The one kept here runs out after its TTL; the other node's never here.
  clock_.Advance(kInstanceTtl - nanoseconds(1));
  EXPECT_TRUE(DueLeases().empty());
  clock_.Advance(kTick);
  EXPECT_EQ(DueLeases(), std::vector<LeaseId>{kept_here.lease});
  clock_.Advance(seconds(60));
  for (const LeaseId lease : DueLeases()) EXPECT_EQ(lease, kept_here.lease);
}

TEST_F(ClusterSessionTest, AnEmptySessionsRemovalFreesItsSlotForTheNextSession) {
  const ReplicatedSession first = StoredSession(kFirstId, kHeldHere);
  registry_.ApplySession(first);
  ReplicatedInstance old = StoredInstance("old", first.id);
  Apply(old);
  const std::optional<SessionSlot> first_slot = SlotOf("old");
  ASSERT_TRUE(first_slot);
  old.session = kNoSession;  // it leaves the session, then the empty session goes
  old.stored_revision = 2;
  Apply(old);
  registry_.ApplySessionRemoval(first.id);
  EXPECT_FALSE(registry_.sessions().Find(first.id));
  EXPECT_TRUE(registry_.sessions().List().empty());

  const ReplicatedSession second = StoredSession(kSecondId, kOtherNode);
  registry_.ApplySession(second);
  const ReplicatedInstance fresh = StoredInstance("new", second.id);
  Apply(fresh);
  ASSERT_EQ(SlotOf("new"), first_slot) << "the test needs the slot reused";
  EXPECT_EQ(registry_.sessions().Find(second.id)->instances, 1u);
  EXPECT_FALSE(registry_.sessions().Holds(second.id, old.lease));
  EXPECT_EQ(registry_.Find(old.lease)->session, kNoSession);
  EXPECT_EQ(registry_.Find(fresh.lease)->session, second.id);
  EXPECT_EQ(TimeLeftOf("old"), kInstanceTtl);
  EXPECT_EQ(TimeLeftOf("new"), kSessionTtl);
  // A late copy of the first's removal changes nothing of the second.
  registry_.ApplySessionRemoval(first.id);
  ASSERT_TRUE(registry_.sessions().Find(second.id));
  EXPECT_TRUE(registry_.sessions().Holds(second.id, fresh.lease));
  // The old instance runs out as a lease of its own; the new lives with its session.
  clock_.Advance(kInstanceTtl + kTick);
  EXPECT_EQ(DueLeases(), std::vector<LeaseId>{old.lease});
  EXPECT_EQ(DueSessions().size(), 0u);
}

TEST_F(ClusterSessionTest, ASessionRemovedWithInstancesFreesItsSlotOnceTheyLeftIt) {
  const ReplicatedSession first = StoredSession(kFirstId, kHeldHere);
  registry_.ApplySession(first);
  const ReplicatedInstance old = StoredInstance("old", first.id);
  Apply(old);
  const std::optional<SessionSlot> first_slot = SlotOf("old");
  ASSERT_TRUE(first_slot);
  registry_.ApplySessionRemoval(first.id);

  const ReplicatedSession second = StoredSession(kSecondId, kHeldHere);
  registry_.ApplySession(second);
  const ReplicatedInstance fresh = StoredInstance("new", second.id);
  Apply(fresh);
  ASSERT_EQ(SlotOf("new"), first_slot) << "the test needs the slot reused";
  EXPECT_FALSE(SlotOf("old"));
  EXPECT_EQ(registry_.sessions().Find(second.id)->instances, 1u);
  EXPECT_FALSE(registry_.sessions().Holds(second.id, old.lease));
  // Removing the old instance leaves the second session's member alone.
  ASSERT_TRUE(registry_.ApplyRemoval(InstanceKey{"books", "old", std::nullopt}, RemovalReason::kExpired));
  EXPECT_TRUE(registry_.sessions().Holds(second.id, fresh.lease));
  // The slot was freed once: the next session of the shard gets another.
  const ReplicatedSession third = StoredSession(kThirdId, kHeldHere);
  registry_.ApplySession(third);
  Apply(StoredInstance("third", third.id));
  EXPECT_NE(SlotOf("third"), first_slot);
  EXPECT_EQ(registry_.sessions().Find(second.id)->instances, 1u);
  EXPECT_EQ(registry_.sessions().Find(third.id)->instances, 1u);
}

TEST_F(ClusterSessionTest, StoredAnswersForALiveSessionItsOpenerAndTheStreamHoldingItHere) {
  EXPECT_EQ(StoredCode(kFirstId), absl::StatusCode::kNotFound) << "unknown";

  const ReplicatedSession held = StoredSession(kFirstId, kHeldHere, 7);
  registry_.ApplySession(held);
  const SessionAttachment stream = Attach(held);
  const absl::StatusOr<ReplicatedSession> stored = registry_.sessions().Stored(held.id, clock_.Now(), stream);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->stored_revision, 7u) << "a write that builds on it is conditional on it";
  EXPECT_EQ(stored->holder, kHeldHere);
  EXPECT_EQ(stored->token, held.token);
  EXPECT_EQ(stored->owner, "alice");
  EXPECT_EQ(stored->ttl, kSessionTtl);
  EXPECT_EQ(stored->grace, kGrace);
  EXPECT_FALSE(stored->ended);
  EXPECT_EQ(StoredCode(held.id, stream + 1), absl::StatusCode::kAborted);
  SessionToken wrong = held.token;
  wrong[0] ^= 1;
  EXPECT_EQ(StoredCode(held.id, std::nullopt, &wrong, "alice"), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(StoredCode(held.id, std::nullopt, &held.token, "mallory"), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(StoredCode(held.id, std::nullopt, &held.token, "alice"), absl::StatusCode::kOk);

  // Held elsewhere: a resume through this node builds on it; no stream here holds it.
  const ReplicatedSession elsewhere = StoredSession(kSecondId, kOtherNode, 9);
  registry_.ApplySession(elsewhere);
  const absl::StatusOr<ReplicatedSession> moving =
      registry_.sessions().Stored(elsewhere.id, clock_.Now(), std::nullopt, &elsewhere.token, "alice");
  ASSERT_TRUE(moving.ok()) << moving.status();
  EXPECT_EQ(moving->holder, kOtherNode);
  EXPECT_EQ(moving->stored_revision, 9u);
  EXPECT_EQ(StoredCode(elsewhere.id, stream), absl::StatusCode::kUnavailable);

  ReplicatedSession ended = held;
  ended.ended = true;
  ended.stored_revision = 8;
  registry_.ApplySession(ended);
  EXPECT_EQ(StoredCode(held.id), absl::StatusCode::kNotFound);
}

TEST_F(ClusterSessionTest, HeldElsewhereListsTheSessionsOtherNodesKeep) {
  const ReplicatedSession here = StoredSession(kFirstId, kHeldHere);
  const ReplicatedSession elsewhere = StoredSession(kSecondId, kOtherNode, 4);
  registry_.ApplySession(here);
  registry_.ApplySession(elsewhere);
  const std::vector<ReplicatedSession> found = registry_.sessions().HeldElsewhere();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, elsewhere.id);
  EXPECT_EQ(found[0].holder, kOtherNode);
  EXPECT_EQ(found[0].stored_revision, 4u) << "a takeover's write is conditional on it";
  EXPECT_EQ(found[0].token, elsewhere.token);
  EXPECT_EQ(found[0].grace, kGrace);
}

}  // namespace
}  // namespace registryd
