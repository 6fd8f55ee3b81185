#include "core/shard.h"

#include <chrono>
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
using test::NativeSpec;

class ShardTest : public ::testing::Test {
 protected:
  ShardTest()
      : shard_(0, 1, Shard::WheelOptions{clock_.Now(), milliseconds(100), 64},
               Shard::ChangeOptions{revisions_, 64, retention_}) {}

  RegisterResult Create(const RegisterSpec& spec) {
    absl::StatusOr<RegisterResult> result = shard_.Upsert(spec, clock_.Now(), true, removed_);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : RegisterResult{};
  }

  std::vector<const InstanceRecord*> Discover(std::string_view service, bool exclude_overloaded = false) {
    std::vector<const InstanceRecord*> records;
    shard_.Discover(service, exclude_overloaded, clock_.Now(),
                    [&](const InstanceRecord& record) { records.push_back(&record); });
    return records;
  }

  // Advances the shard's wheel to the clock, without a budget limit.
  std::vector<Removal> Expire() {
    std::vector<Removal> expired;
    EXPECT_FALSE(shard_.Advance(clock_.Now(), 1'000'000, expired));
    return expired;
  }

  ManualClock clock_;
  std::atomic<uint64_t> revisions_{0};
  ChangeRetention retention_;
  Shard shard_;
  std::vector<Removal> removed_;
};

TEST_F(ShardTest, UpsertCreatesAnInstanceThatDiscoverShows) {
  RegisterSpec spec = NativeSpec("books", "b1", seconds(10), 9000);
  spec.metadata = {{"zone", "eu"}};
  const RegisterResult result = Create(spec);
  EXPECT_TRUE(result.created);
  EXPECT_NE(result.lease, kNoLease);
  EXPECT_EQ(result.instance_id, "b1");
  EXPECT_EQ(result.ttl, seconds(10));

  const auto records = Discover("books");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]->lease, result.lease);
  EXPECT_EQ(records[0]->host(), "10.0.0.1");
  EXPECT_EQ(records[0]->port, 9000);
  EXPECT_EQ(records[0]->metadata(), spec.metadata);
  EXPECT_EQ(records[0]->deadline, clock_.Now() + seconds(10));
  EXPECT_EQ(records[0]->service->name, "books");
  EXPECT_EQ(shard_.counters().registered.load(), 1u);
  EXPECT_EQ(shard_.counters().live.load(), 1u);
}

TEST_F(ShardTest, UpsertOfTheSameInstanceIdUpdatesInPlace) {
  const RegisterResult first = Create(NativeSpec("books", "b1", seconds(10), 9000));
  clock_.Advance(seconds(4));
  RegisterSpec update = NativeSpec("books", "b1", seconds(10), 9001);
  update.metadata = {{"v", "2"}};
  update.overloaded = true;
  const RegisterResult second = Create(update);

  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.lease, first.lease);
  const auto records = Discover("books");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]->port, 9001);
  EXPECT_EQ(records[0]->metadata(), update.metadata);
  EXPECT_TRUE(records[0]->overloaded);
  EXPECT_EQ(records[0]->deadline, clock_.Now() + seconds(10));
  EXPECT_EQ(shard_.counters().registered.load(), 1u);
}

// A record keeps its host's bytes in its own allocation, so a new host moves
// the instance to a new record: every index must follow it.
TEST_F(ShardTest, UpsertWithAnotherHostKeepsTheLeaseAndEveryIndex) {
  RegisterSpec original = NativeSpec("books", "b1", seconds(10), 9000);
  original.metadata = {{"zone", "eu-1"}};
  const RegisterResult first = Create(original);
  Create(NativeSpec("books", "b2", seconds(10), 9000));
  RegisterSpec moved = original;
  moved.host = "books-b1.eu-1.internal.example.com";
  const RegisterResult second = Create(moved);

  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.lease, first.lease);
  std::vector<const InstanceRecord*> records = Discover("books");
  ASSERT_EQ(records.size(), 2u);
  const InstanceRecord* b1 = records[0]->instance_id() == "b1" ? records[0] : records[1];
  EXPECT_EQ(b1->host(), moved.host);
  EXPECT_EQ(b1->instance_id(), "b1");
  EXPECT_EQ(b1->metadata(), original.metadata);
  EXPECT_EQ(b1->Address(), "books-b1.eu-1.internal.example.com:9000");

  // Found by lease (heartbeat), by instance id (another upsert), and removed.
  std::vector<Removal> removed;
  EXPECT_TRUE(shard_.Heartbeat(first.lease, false, clock_.Now(), removed).ok());
  EXPECT_EQ(Create(moved).lease, first.lease);
  const absl::StatusOr<Removal> removal = shard_.Deregister(first.lease);
  ASSERT_TRUE(removal.ok());
  EXPECT_EQ(removal->instance_id, "b1");
  records = Discover("books");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]->instance_id(), "b2");
}

// Record indexes are reused, and timer-wheel entries of removed leases stay
// filed until their tick: such an entry must not touch the index's new lease.
TEST_F(ShardTest, AStaleWheelEntryOfAReusedIndexLeavesTheNewLeaseAlone) {
  const RegisterResult gone = Create(NativeSpec("books", "b1", seconds(1)));
  ASSERT_TRUE(shard_.Deregister(gone.lease).ok());
  const RegisterResult reusing = Create(NativeSpec("books", "b2", seconds(5)));

  clock_.Advance(milliseconds(1500));  // past the removed lease's tick
  EXPECT_TRUE(Expire().empty());
  ASSERT_EQ(Discover("books").size(), 1u);
  std::vector<Removal> removed;
  EXPECT_TRUE(shard_.Heartbeat(reusing.lease, false, clock_.Now(), removed).ok());

  clock_.Advance(seconds(5));
  const std::vector<Removal> expired = Expire();
  ASSERT_EQ(expired.size(), 1u) << "expires once, at its own deadline";
  EXPECT_EQ(expired[0].lease, reusing.lease);
  EXPECT_EQ(expired[0].instance_id, "b2");
}

TEST_F(ShardTest, NewMetadataKeepsTheLeaseAndEveryIndex) {
  const RegisterResult first = Create(NativeSpec("books", "b1", seconds(10)));
  RegisterSpec relabelled = NativeSpec("books", "b1", seconds(10));
  relabelled.metadata = {{"zone", "eu-2"}};
  EXPECT_EQ(Create(relabelled).lease, first.lease);
  std::vector<Removal> removed;
  EXPECT_TRUE(shard_.Heartbeat(first.lease, false, clock_.Now(), removed).ok());
  const auto records = Discover("books");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]->metadata(), relabelled.metadata);
  EXPECT_TRUE(shard_.Deregister(first.lease).ok());
  EXPECT_TRUE(Discover("books").empty());
}

TEST_F(ShardTest, EmptyInstanceIdGetsAFreshHexId) {
  const RegisterResult a = Create(NativeSpec("books", "", seconds(10)));
  const RegisterResult b = Create(NativeSpec("books", "", seconds(10)));
  EXPECT_EQ(a.instance_id.size(), 16u);
  EXPECT_EQ(a.instance_id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a.instance_id, b.instance_id);
  EXPECT_NE(a.lease, b.lease);
  EXPECT_EQ(Discover("books").size(), 2u);
}

TEST_F(ShardTest, WithoutCapacityANewInstanceIsRefusedButAnUpdateWorks) {
  Create(NativeSpec("books", "b1", seconds(10), 9000));

  const auto refused = shard_.Upsert(NativeSpec("books", "b2", seconds(10)), clock_.Now(), false, removed_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Discover("books").size(), 1u);
  EXPECT_EQ(shard_.counters().registered.load(), 1u);

  const auto updated = shard_.Upsert(NativeSpec("books", "b1", seconds(10), 9001), clock_.Now(), false, removed_);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_FALSE(updated->created);
  EXPECT_EQ(Discover("books")[0]->port, 9001);
}

TEST_F(ShardTest, HeartbeatMovesTheDeadline) {
  const LeaseId lease = Create(NativeSpec("books", "b1", seconds(1))).lease;
  clock_.Advance(milliseconds(900));
  const absl::StatusOr<Duration> ttl = shard_.Heartbeat(lease, false, clock_.Now(), removed_);
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_EQ(*ttl, seconds(1));

  clock_.Advance(milliseconds(1000) - nanoseconds(1));  // 1 ns before the new deadline
  EXPECT_TRUE(Expire().empty());
  EXPECT_EQ(Discover("books").size(), 1u);
  clock_.Advance(nanoseconds(1));
  ASSERT_EQ(Expire().size(), 1u);
  EXPECT_TRUE(Discover("books").empty());
}

TEST_F(ShardTest, HeartbeatAtTheDeadlineIsNotFoundAndReportsTheRemoval) {
  const LeaseId lease = Create(NativeSpec("books", "b1", seconds(1))).lease;
  clock_.Advance(seconds(1));
  const absl::StatusOr<Duration> ttl = shard_.Heartbeat(lease, false, clock_.Now(), removed_);
  EXPECT_EQ(ttl.status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(removed_.size(), 1u);
  EXPECT_EQ(removed_[0].lease, lease);
  EXPECT_EQ(shard_.counters().expired.load(), 1u);
  EXPECT_EQ(shard_.counters().live.load(), 0u);
  // The wheel's entry finds nothing left to expire.
  EXPECT_TRUE(Expire().empty());
}

TEST_F(ShardTest, DeregisterRemovesAtOnceAndOnlyOnce) {
  const LeaseId lease = Create(NativeSpec("books", "b1", seconds(10))).lease;
  const absl::StatusOr<Removal> removal = shard_.Deregister(lease);
  ASSERT_TRUE(removal.ok());
  EXPECT_EQ(removal->lease, lease);
  EXPECT_EQ(removal->service, "books");
  EXPECT_EQ(removal->instance_id, "b1");
  EXPECT_TRUE(Discover("books").empty());
  EXPECT_FALSE(shard_.Deregister(lease).ok());
  EXPECT_EQ(shard_.Heartbeat(lease, false, clock_.Now(), removed_).status().code(),
            absl::StatusCode::kNotFound);

  clock_.Advance(seconds(10));
  EXPECT_TRUE(Expire().empty());
  EXPECT_EQ(shard_.counters().deregistered.load(), 1u);
  EXPECT_EQ(shard_.counters().expired.load(), 0u);
}

TEST_F(ShardTest, DiscoverHidesAnInstancePastItsDeadlineBeforeTheWheelReapsIt) {
  clock_.Advance(milliseconds(50));
  Create(NativeSpec("books", "b1", seconds(1)));  // deadline 1.05 s, between ticks
  clock_.Advance(seconds(1) - nanoseconds(1));
  EXPECT_EQ(Discover("books").size(), 1u);
  clock_.Advance(nanoseconds(1));
  EXPECT_TRUE(Discover("books").empty());
  EXPECT_FALSE(shard_.Pick("books", clock_.Now()).has_value());
  clock_.Advance(milliseconds(50));  // the 1.1 s tick
  const std::vector<Removal> expired = Expire();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].instance_id, "b1");
}

TEST_F(ShardTest, DiscoverCanLeaveOutOverloadedInstances) {
  RegisterSpec busy = NativeSpec("books", "busy", seconds(10));
  busy.overloaded = true;
  Create(busy);
  Create(NativeSpec("books", "idle", seconds(10)));
  EXPECT_EQ(Discover("books").size(), 2u);
  const auto idle_only = Discover("books", true);
  ASSERT_EQ(idle_only.size(), 1u);
  EXPECT_EQ(idle_only[0]->instance_id(), "idle");
}

TEST_F(ShardTest, HoldsInServiceNamesTheLeasesService) {
  const LeaseId lease = Create(NativeSpec("books", "b1", seconds(10))).lease;
  EXPECT_TRUE(shard_.HoldsInService(lease, "books"));
  EXPECT_FALSE(shard_.HoldsInService(lease, "orders"));
  EXPECT_FALSE(shard_.HoldsInService(lease + 1, "books"));
}

TEST_F(ShardTest, AdvanceReportsExpiredLeasesWithTheirServiceAndSeedId) {
  RegisterSpec seed = test::SeedSpec(7, "books");
  seed.ttl = seconds(1);
  const LeaseId lease = Create(seed).lease;
  clock_.Advance(seconds(1));
  const std::vector<Removal> expired = Expire();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].lease, lease);
  EXPECT_EQ(expired[0].service, "books");
  EXPECT_EQ(expired[0].instance_id, "7");
  EXPECT_EQ(expired[0].seed_id, 7);
  EXPECT_EQ(shard_.counters().expired.load(), 1u);
  EXPECT_EQ(shard_.counters().live.load(), 0u);
}

TEST_F(ShardTest, AdvanceStopsAtItsBudgetAndSaysWorkRemains) {
  for (int i = 0; i < 5; ++i) Create(NativeSpec("books", std::to_string(i), seconds(1)));
  clock_.Advance(seconds(1));
  std::vector<Removal> expired;
  EXPECT_TRUE(shard_.Advance(clock_.Now(), 2, expired));
  EXPECT_EQ(expired.size(), 2u);
  EXPECT_TRUE(shard_.Advance(clock_.Now(), 2, expired));
  EXPECT_EQ(expired.size(), 4u);
  EXPECT_FALSE(shard_.Advance(clock_.Now(), 2, expired));
  EXPECT_EQ(expired.size(), 5u);
  EXPECT_GT(shard_.NextTickTime(), clock_.Now());
}

TEST_F(ShardTest, WarnEjectsFromDiscoveryUntilTheNextHeartbeat) {
  const LeaseId warned = Create(test::SeedSpec(1, "books")).lease;
  Create(test::SeedSpec(2, "books"));

  const WarnResult result = *shard_.Warn(warned, clock_.Now());
  EXPECT_TRUE(result.known);
  ASSERT_TRUE(result.replacement.has_value());
  EXPECT_EQ(result.replacement->server_id, 2);
  ASSERT_EQ(Discover("books").size(), 1u);
  std::vector<ServiceSummary> services;
  shard_.AppendServices(services);
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].instances, 1u);

  ASSERT_TRUE(shard_.Heartbeat(warned, false, clock_.Now(), removed_).ok());
  EXPECT_EQ(Discover("books").size(), 2u);
}

TEST_F(ShardTest, PickNeverReturnsTheExcludedLease) {
  const LeaseId excluded = Create(test::SeedSpec(1, "books")).lease;
  Create(test::SeedSpec(2, "books"));
  for (int i = 0; i < 4; ++i) {
    const std::optional<Endpoint> picked = shard_.Pick("books", clock_.Now(), excluded);
    ASSERT_TRUE(picked.has_value());
    EXPECT_EQ(picked->server_id, 2);
  }
}

}  // namespace
}  // namespace registryd
