#include "core/registry.h"

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
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

// 64 slots of 100 ms: one rotation is 6.4 s, so the 10 s TTLs below wrap.
RegistryOptions TestOptions() {
  RegistryOptions options;
  options.default_ttl = seconds(10);
  options.tick = milliseconds(100);
  options.wheel_slots = 64;
  options.shard_count = 4;
  return options;
}

class RegistryTest : public test::RegistryFixture {
 protected:
  explicit RegistryTest(const RegistryOptions& options = TestOptions()) : RegistryFixture(options) {}
};

TEST_F(RegistryTest, RegisteredInstanceIsDiscovered) {
  const absl::StatusOr<RegisterResult> result = registry_.Register(NativeSpec("books", "b1", seconds(10), 9000));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->created);
  EXPECT_NE(result->lease, kNoLease);

  std::vector<std::string> addresses;
  registry_.Discover("books", false, [&](const InstanceRecord& record) { addresses.push_back(record.Address()); });
  EXPECT_EQ(addresses, Ids{"10.0.0.1:9000"});
  EXPECT_EQ(DiscoveredIds(registry_, "unknown"), Ids{});
}

TEST_F(RegistryTest, InstanceLivesUntilItsDeadlineAndExpiresAtIt) {
  const LeaseId lease = Register(NativeSpec("books", "b1", seconds(10)));
  clock_.Advance(seconds(10) - nanoseconds(1));
  EXPECT_TRUE(ExpireDue(registry_).empty());
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"b1"});

  clock_.Advance(nanoseconds(1));
  const std::vector<Removal> expired = ExpireDue(registry_);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].lease, lease);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{});
  EXPECT_EQ(registry_.Heartbeat(lease, false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.Totals().expired, 1u);
  EXPECT_EQ(registry_.Totals().live, 0u);
}

TEST_F(RegistryTest, DeadlineBetweenTicksExpiresByTheFollowingTick) {
  clock_.Advance(milliseconds(50));
  Register(NativeSpec("books", "b1", seconds(10)));  // deadline at 10.05 s
  clock_.Advance(seconds(10) - nanoseconds(1));
  EXPECT_TRUE(ExpireDue(registry_).empty());
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"b1"});

  clock_.Advance(nanoseconds(1));
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{}) << "past its deadline, even if not reaped yet";
  clock_.Advance(milliseconds(50));  // the 10.1 s tick
  EXPECT_EQ(ExpireDue(registry_).size(), 1u);
}

TEST_F(RegistryTest, HeartbeatMovesTheDeadline) {
  const LeaseId lease = Register(NativeSpec("books", "b1", seconds(10)));
  clock_.Advance(seconds(8));
  const absl::StatusOr<Duration> ttl = registry_.Heartbeat(lease, false);
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_EQ(*ttl, seconds(10));

  clock_.Advance(seconds(2));  // the original deadline
  EXPECT_TRUE(ExpireDue(registry_).empty());
  clock_.Advance(seconds(8) - nanoseconds(1));
  EXPECT_TRUE(ExpireDue(registry_).empty());
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"b1"});
  clock_.Advance(nanoseconds(1));
  EXPECT_EQ(ExpireDue(registry_).size(), 1u);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{});
}

TEST_F(RegistryTest, HeartbeatsKeepALeaseAliveAcrossManyRotations) {
  const LeaseId lease = Register(NativeSpec("books", "b1", seconds(10)));
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(seconds(9));
    ASSERT_TRUE(ExpireDue(registry_).empty()) << "after " << i << " heartbeats";
    ASSERT_TRUE(registry_.Heartbeat(lease, false).ok());
  }
  clock_.Advance(seconds(10));
  EXPECT_EQ(ExpireDue(registry_).size(), 1u);
}

TEST_F(RegistryTest, HeartbeatStoresTheOverloadedFlag) {
  const LeaseId lease = Register(NativeSpec("books", "b1", seconds(10)));
  ASSERT_TRUE(registry_.Heartbeat(lease, true).ok());
  EXPECT_EQ(DiscoveredIds(registry_, "books", /*exclude_overloaded=*/true), Ids{});
  ASSERT_TRUE(registry_.Heartbeat(lease, false).ok());
  EXPECT_EQ(DiscoveredIds(registry_, "books", /*exclude_overloaded=*/true), Ids{"b1"});
}

TEST_F(RegistryTest, HeartbeatOfAnUnknownLeaseIsNotFound) {
  Register(NativeSpec("books", "b1", seconds(10)));
  EXPECT_EQ(registry_.Heartbeat(kNoLease, false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.Heartbeat(0x1234'5678'9abc'def0, false).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, DeregisterRemovesTheInstanceAtOnce) {
  const LeaseId lease = Register(NativeSpec("books", "b1", seconds(10)));
  Register(NativeSpec("books", "b2", seconds(10)));
  const absl::StatusOr<Removal> removal = registry_.Deregister(lease);
  ASSERT_TRUE(removal.ok()) << removal.status();
  EXPECT_EQ(removal->instance_id, "b1");
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"b2"});
  EXPECT_EQ(registry_.Heartbeat(lease, false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.Deregister(lease).status().code(), absl::StatusCode::kNotFound);

  clock_.Advance(seconds(10));
  ASSERT_EQ(ExpireDue(registry_).size(), 1u) << "only b2 is left to expire";
  EXPECT_EQ(registry_.Totals().deregistered, 1u);
  EXPECT_EQ(registry_.Totals().expired, 1u);
}

TEST_F(RegistryTest, ReRegisteringUpdatesInPlaceWithTheSameLease) {
  const absl::StatusOr<RegisterResult> first = registry_.Register(NativeSpec("books", "b1", seconds(10), 9000));
  ASSERT_TRUE(first.ok());
  clock_.Advance(seconds(8));
  RegisterSpec update = NativeSpec("books", "b1", seconds(10), 9001);
  update.metadata = {{"version", "2"}};
  const absl::StatusOr<RegisterResult> second = registry_.Register(update);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->lease, first->lease);
  EXPECT_EQ(second->instance_id, "b1");

  std::vector<const InstanceRecord*> records;
  registry_.Discover("books", false, [&](const InstanceRecord& record) {
    EXPECT_EQ(record.port, 9001);
    EXPECT_EQ(record.metadata(), update.metadata);
    records.push_back(&record);
  });
  EXPECT_EQ(records.size(), 1u);
  EXPECT_EQ(registry_.Totals().registered, 1u);
  EXPECT_EQ(registry_.Totals().live, 1u);
  EXPECT_EQ(registry_.Totals().updated, 1u);

  // The lease was renewed from the re-registration.
  clock_.Advance(seconds(10) - nanoseconds(1));
  EXPECT_TRUE(ExpireDue(registry_).empty());
  clock_.Advance(nanoseconds(1));
  EXPECT_EQ(ExpireDue(registry_).size(), 1u);
}

TEST_F(RegistryTest, ReRegisteringWithAShorterTtlExpiresByTheNewDeadline) {
  const LeaseId lease = Register(NativeSpec("books", "b1", seconds(60)));
  clock_.Advance(seconds(1));
  EXPECT_EQ(Register(NativeSpec("books", "b1", seconds(5))), lease);
  clock_.Advance(seconds(5));
  const std::vector<Removal> expired = ExpireDue(registry_);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].lease, lease);
  EXPECT_EQ(registry_.ListServices().size(), 0u);
}

// The 60 s lease's first wheel entry is left behind at the 60 s tick; it must
// neither expire the lease nor keep it from expiring afterwards.
TEST_F(RegistryTest, AfterATtlIsShortenedHeartbeatsStillRenewAndExpiryStillCounts) {
  const LeaseId lease = Register(NativeSpec("books", "b1", seconds(60)));
  Register(NativeSpec("books", "b1", seconds(5)));
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(seconds(4));
    ASSERT_TRUE(ExpireDue(registry_).empty()) << "at " << (i + 1) * 4 << " s";
    ASSERT_TRUE(registry_.Heartbeat(lease, false).ok());
  }
  clock_.Advance(seconds(5) - nanoseconds(1));
  EXPECT_TRUE(ExpireDue(registry_).empty());
  clock_.Advance(nanoseconds(1));
  EXPECT_EQ(ExpireDue(registry_).size(), 1u);
}

TEST_F(RegistryTest, SameInstanceIdInAnotherServiceIsAnotherInstance) {
  const LeaseId books = Register(NativeSpec("books", "x", seconds(10)));
  const LeaseId orders = Register(NativeSpec("orders", "x", seconds(10)));
  EXPECT_NE(books, orders);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"x"});
  EXPECT_EQ(DiscoveredIds(registry_, "orders"), Ids{"x"});
}

TEST_F(RegistryTest, AssignedInstanceIdCanBeUsedToReRegister) {
  const absl::StatusOr<RegisterResult> first = registry_.Register(NativeSpec("books", "", seconds(10)));
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->instance_id.empty());
  const absl::StatusOr<RegisterResult> again = registry_.Register(NativeSpec("books", first->instance_id, seconds(10)));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->lease, first->lease);
  EXPECT_EQ(DiscoveredIds(registry_, "books").size(), 1u);
}

TEST_F(RegistryTest, ALeaseLongerThanOneRotationWrapsAround) {
  Register(NativeSpec("books", "b1", seconds(20)));  // 20 s > 6.4 s rotation
  for (int step = 1; step < 200; ++step) {
    clock_.Advance(milliseconds(100));
    ASSERT_TRUE(ExpireDue(registry_).empty()) << "expired early at " << step * 100 << " ms";
  }
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"b1"});
  clock_.Advance(milliseconds(100));
  EXPECT_EQ(ExpireDue(registry_).size(), 1u);
}

TEST_F(RegistryTest, GrantTtlClampsToTheBoundsAndZeroMeansDefault) {
  EXPECT_EQ(registry_.GrantTtl(Duration::zero()), seconds(10));
  EXPECT_EQ(registry_.GrantTtl(milliseconds(1)), seconds(1));
  EXPECT_EQ(registry_.GrantTtl(seconds(30)), seconds(30));
  EXPECT_EQ(registry_.GrantTtl(std::chrono::hours(5)), std::chrono::hours(1));
}

uint64_t RevisionOf(Registry& registry, std::string_view service) {
  return registry.Discover(service, false, [](const InstanceRecord&) {});
}

TEST_F(RegistryTest, DiscoverRevisionGrowsOnEveryChange) {
  const LeaseId b1 = Register(NativeSpec("books", "b1", seconds(10)));
  const uint64_t created = RevisionOf(registry_, "books");
  EXPECT_GT(created, 0u);

  ASSERT_TRUE(registry_.Heartbeat(b1, false).ok());
  EXPECT_EQ(RevisionOf(registry_, "books"), created) << "a plain heartbeat changes nothing";

  ASSERT_TRUE(registry_.Heartbeat(b1, true).ok());
  const uint64_t overloaded = RevisionOf(registry_, "books");
  EXPECT_GT(overloaded, created);

  RegisterSpec relabelled = NativeSpec("books", "b1", seconds(10));
  relabelled.metadata = {{"k", "v"}};
  relabelled.overloaded = true;
  Register(relabelled);
  const uint64_t metadata = RevisionOf(registry_, "books");
  EXPECT_GT(metadata, overloaded);

  const LeaseId b2 = Register(NativeSpec("books", "b2", seconds(10)));
  const uint64_t added = RevisionOf(registry_, "books");
  EXPECT_GT(added, metadata);

  ASSERT_TRUE(registry_.Deregister(b2).ok());
  EXPECT_GT(RevisionOf(registry_, "books"), added);
}

TEST_F(RegistryTest, DiscoverRevisionNeverGoesBackWhenAServiceEmptiesAndReturns) {
  const LeaseId lease = Register(NativeSpec("books", "b1", seconds(10)));
  const uint64_t before = RevisionOf(registry_, "books");
  ASSERT_TRUE(registry_.Deregister(lease).ok());
  const uint64_t emptied = RevisionOf(registry_, "books");
  EXPECT_GT(emptied, before);

  Register(NativeSpec("books", "b1", seconds(10)));
  const uint64_t returned = RevisionOf(registry_, "books");
  EXPECT_GT(returned, emptied);

  clock_.Advance(seconds(10));
  ExpireDue(registry_);
  EXPECT_GT(RevisionOf(registry_, "books"), returned);
}

// VisitAll (the data dir's snapshots) reads a shard in slices: a service
// of several slices' worth, with freed indexes among them and an ejected
// instance, is visited whole, each live instance once.
TEST_F(RegistryTest, VisitAllSeesEveryLiveInstanceOnceAcrossSlices) {
  const int count = 2 * Registry::kVisitSlice + 100;
  std::vector<LeaseId> leases;
  for (int i = 0; i < count; ++i) leases.push_back(Register(NativeSpec("big", "i-" + std::to_string(i), seconds(10))));
  for (int i = 0; i < count; i += 3) ASSERT_TRUE(registry_.Deregister(leases[i]).ok());
  ASSERT_TRUE(registry_.Eject(leases[1]));
  Register(NativeSpec("small", "s-1", seconds(10)));

  std::map<std::string, int> visits;
  int ejected = 0;
  registry_.VisitAll([&](std::string_view service, const InstanceRecord& record) {
    ++visits[std::string(service) + "/" + std::string(record.instance_id())];
    ejected += record.ejected;
  });
  std::map<std::string, int> expected = {{"small/s-1", 1}};
  for (int i = 0; i < count; ++i) {
    if (i % 3 != 0) expected["big/i-" + std::to_string(i)] = 1;
  }
  EXPECT_EQ(visits, expected);
  EXPECT_EQ(ejected, 1);
}

TEST_F(RegistryTest, ListServicesIsSortedWithInstanceCounts) {
  Register(NativeSpec("zeta", "z1", seconds(10)));
  Register(NativeSpec("alpha", "a1", seconds(10)));
  Register(NativeSpec("alpha", "a2", seconds(10)));
  for (int i = 0; i < 3; ++i) Register(NativeSpec("mid", "m" + std::to_string(i), seconds(20)));
  EXPECT_EQ(registry_.Totals().services, 3u);

  std::vector<std::pair<std::string, uint32_t>> listed;
  for (const ServiceSummary& service : registry_.ListServices()) listed.emplace_back(service.name, service.instances);
  EXPECT_EQ(listed, (std::vector<std::pair<std::string, uint32_t>>{{"alpha", 2}, {"mid", 3}, {"zeta", 1}}));

  clock_.Advance(seconds(10));
  ExpireDue(registry_);
  ASSERT_EQ(registry_.ListServices().size(), 1u);
  EXPECT_EQ(registry_.ListServices()[0].name, "mid");
  EXPECT_EQ(registry_.Totals().services, 1u);
  // The three expired together: shards that expired anything count a batch each.
  EXPECT_GE(registry_.Totals().expiry_batches, 1u);
  EXPECT_LE(registry_.Totals().expiry_batches, 3u);
}

class MassExpiryTest : public RegistryTest {
 protected:
  static RegistryOptions Options() {
    RegistryOptions options = TestOptions();
    options.shard_count = 1;
    options.expiry_batch = 5;
    return options;
  }
  MassExpiryTest() : RegistryTest(Options()) {}
};

TEST_F(MassExpiryTest, ExpiryIsSpreadOverCallsOfAtMostTheBatch) {
  constexpr size_t kInstances = 23;
  for (size_t i = 0; i < kInstances; ++i) Register(NativeSpec("books", std::to_string(i), seconds(10)));
  clock_.Advance(seconds(10));

  std::vector<Removal> expired;
  std::vector<size_t> per_call;
  bool more = true;
  while (more && per_call.size() < 100) {
    const size_t before = expired.size();
    more = registry_.Advance(0, expired);
    per_call.push_back(expired.size() - before);
    EXPECT_EQ(more, expired.size() < kInstances) << "after call " << per_call.size();
  }
  EXPECT_EQ(per_call, (std::vector<size_t>{5, 5, 5, 5, 3}));
  EXPECT_EQ(registry_.Totals().live, 0u);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{});
}

TEST_F(MassExpiryTest, RenewedLeasesAreSparedWhileTheRestExpireInBatches) {
  std::vector<LeaseId> leases;
  for (int i = 0; i < 12; ++i) leases.push_back(Register(NativeSpec("books", std::to_string(i), seconds(10))));
  clock_.Advance(seconds(5));
  for (int i = 0; i < 12; i += 3) ASSERT_TRUE(registry_.Heartbeat(leases[i], false).ok());
  clock_.Advance(seconds(5));

  std::vector<Removal> expired;
  int calls = 0;
  while (registry_.Advance(0, expired)) ASSERT_LT(++calls, 100);
  EXPECT_EQ(expired.size(), 8u);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), (Ids{"0", "3", "6", "9"}));
}

class CapacityTest : public RegistryTest {
 protected:
  static RegistryOptions Options() {
    RegistryOptions options = TestOptions();
    options.max_instances = 2;
    return options;
  }
  CapacityTest() : RegistryTest(Options()) {}
};

TEST_F(CapacityTest, FullRegistryRefusesANewInstanceAndChangesNothing) {
  Register(NativeSpec("books", "b1", seconds(10)));
  Register(NativeSpec("orders", "o1", seconds(10)));

  const absl::StatusOr<RegisterResult> refused = registry_.Register(NativeSpec("users", "u1", seconds(10)));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(refused.status().message()).find("max-instances=2"), std::string::npos)
      << refused.status();
  EXPECT_EQ(DiscoveredIds(registry_, "users"), Ids{});
  EXPECT_EQ(registry_.ListServices().size(), 2u);
  EXPECT_EQ(registry_.Totals().registered, 2u);
  EXPECT_EQ(registry_.Totals().live, 2u);
}

TEST_F(CapacityTest, UpdateOfAnExistingInstanceWorksWhenFull) {
  const LeaseId lease = Register(NativeSpec("books", "b1", seconds(10), 9000));
  Register(NativeSpec("books", "b2", seconds(10)));
  const absl::StatusOr<RegisterResult> updated = registry_.Register(NativeSpec("books", "b1", seconds(10), 9001));
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->lease, lease);
  registry_.Discover("books", false, [](const InstanceRecord& record) {
    if (record.instance_id() == "b1") {
      EXPECT_EQ(record.port, 9001);
    }
  });
  EXPECT_TRUE(registry_.Heartbeat(lease, false).ok());
  // Updates did not use up capacity: still exactly full.
  EXPECT_EQ(registry_.Register(NativeSpec("books", "b3", seconds(10))).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(CapacityTest, ReRegisteringAnExpiredInstanceWhenFullUsesTheRoomItFrees) {
  Register(NativeSpec("books", "b1", seconds(10)));
  const LeaseId short_lived = Register(NativeSpec("books", "b2", seconds(5)));
  clock_.Advance(seconds(5));  // b2 is past its deadline; the wheel has not run
  const absl::StatusOr<RegisterResult> again = registry_.Register(NativeSpec("books", "b2", seconds(5)));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(again->lease, short_lived);  // the expired lease is gone, not revived
  EXPECT_EQ(registry_.Totals().live, 2u);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), (Ids{"b1", "b2"}));
}

TEST_F(CapacityTest, DeregistrationAndExpiryFreeCapacity) {
  const LeaseId b1 = Register(NativeSpec("books", "b1", seconds(10)));
  Register(NativeSpec("books", "b2", seconds(5)));
  ASSERT_TRUE(registry_.Deregister(b1).ok());
  Register(NativeSpec("books", "b3", seconds(10)));
  EXPECT_FALSE(registry_.Register(NativeSpec("books", "b4", seconds(10))).ok());

  clock_.Advance(seconds(5));
  ASSERT_EQ(ExpireDue(registry_).size(), 1u);
  Register(NativeSpec("books", "b4", seconds(10)));
  EXPECT_FALSE(registry_.Register(NativeSpec("books", "b5", seconds(10))).ok());
  EXPECT_EQ(DiscoveredIds(registry_, "books"), (Ids{"b3", "b4"}));
}

}  // namespace
}  // namespace registryd
