// Sessions in the registry (core/session_table.h), on a manual clock: one
// session keeps any number of instances, its end removes them, a broken
// stream leaves it in grace, and resuming needs its token and owner.
#include "core/session_table.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/registry.h"
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

}  // namespace
}  // namespace registryd
