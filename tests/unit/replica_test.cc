// Cluster mode's side of the core: changes applied in the store's order,
// leases held here or elsewhere (core/replica.h), on a fake clock.
#include <chrono>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/registry.h"
#include "core/watch_feed.h"
#include "test_specs.h"

namespace registryd {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr NodeSlot kOtherNode = 3;
constexpr Duration kRetry = seconds(1);

ReplicatedInstance Stored(RegisterSpec spec, NodeSlot holder = kHeldHere, uint64_t stored_revision = 1) {
  ReplicatedInstance state;
  state.lease = NewLeaseId(LeaseRouteOf(spec.service));
  state.spec = std::move(spec);
  state.holder = holder;
  state.stored_revision = stored_revision;
  return state;
}

std::vector<std::string> Addresses(Registry& registry, std::string_view service) {
  std::vector<std::string> addresses;
  registry.Discover(service, false, [&](const InstanceRecord& record) { addresses.push_back(record.Address()); });
  return addresses;
}

// What a watcher of every service reads after `since`: "kind service/id@revision".
std::vector<std::string> ChangesAfter(Registry& registry, uint64_t since) {
  WatchFeed feed(registry, "", since, /*coalesce=*/false);
  std::vector<std::string> seen;
  while (std::optional<WatchBatch> batch = feed.Next()) {
    EXPECT_FALSE(batch->history_lost);
    for (const Change& change : batch->changes) {
      static constexpr const char* kKinds[] = {"added", "updated", "removed"};
      seen.push_back(fmt::format("{} {}/{}@{}", kKinds[static_cast<int>(change.kind)], change.service,
                                 change.instance->instance_id(), change.revision));
    }
    if (batch->changes.empty()) break;
  }
  return seen;
}

class ReplicaTest : public ::testing::Test {
 protected:
  ReplicaTest() : registry_(Options(16), clock_) {}

  static RegistryOptions Options(uint32_t shard_count) {
    RegistryOptions options;
    options.shard_count = shard_count;
    options.tick = milliseconds(100);
    options.first_revision = 1;  // a watch from 0 would start with a snapshot
    return options;
  }

  void Apply(Registry& registry, uint64_t store_revision, const ReplicatedInstance& state) {
    registry.BeginRevision(store_revision << 16);
    ASSERT_TRUE(registry.Apply(state).ok());
  }

  std::vector<DueLease> Due() {
    std::vector<DueLease> due;
    for (uint32_t shard = 0; shard < registry_.shard_count(); ++shard) {
      while (registry_.FindDue(shard, kRetry, due)) {
      }
    }
    return due;
  }

  ManualClock clock_;
  Registry registry_;
};

TEST_F(ReplicaTest, AppliedChangesTakeRevisionsAboveTheStoresAndShowInDiscover) {
  const uint64_t start = registry_.Revision();
  ReplicatedInstance web = Stored(test::NativeSpec("web", "a", seconds(10)));
  Apply(registry_, 7, web);
  EXPECT_EQ(Addresses(registry_, "web"), std::vector<std::string>{"10.0.0.1:8080"});
  web.spec.port = 9090;
  web.stored_revision = 8;
  Apply(registry_, 8, web);
  EXPECT_EQ(Addresses(registry_, "web"), std::vector<std::string>{"10.0.0.1:9090"});
  ASSERT_TRUE(registry_.ApplyRemoval(InstanceKey{"web", "a", std::nullopt}, RemovalReason::kDeregistered));
  EXPECT_TRUE(Addresses(registry_, "web").empty());
  const uint64_t seven = uint64_t{7} << 16;
  const uint64_t eight = uint64_t{8} << 16;
  EXPECT_EQ(ChangesAfter(registry_, start),
            (std::vector<std::string>{fmt::format("added web/a@{}", seven + 1), fmt::format("updated web/a@{}", eight + 1),
                                      fmt::format("removed web/a@{}", eight + 2)}));
}

// Nodes apply one sequence of store events; their watchers must see the same
// changes at the same revisions, whatever each node's shard count, so that a
// watcher can resume on another node.
TEST_F(ReplicaTest, TwoNodesApplyingOneSequenceLogTheSameChangesAtTheSameRevisions) {
  Registry other(Options(256), clock_);
  const uint64_t start = std::min(registry_.Revision(), other.Revision());
  std::vector<ReplicatedInstance> states;
  for (int i = 0; i < 20; ++i) {
    states.push_back(Stored(test::NativeSpec("svc-" + std::to_string(i % 5), "i" + std::to_string(i), seconds(10))));
  }
  states.push_back(Stored(test::SeedSpec(42, "svc-0")));
  states.push_back(Stored(test::SeedSpec(42, "svc-3")));  // the seed id moves
  uint64_t store_revision = 100;
  for (Registry* registry : {&registry_, &other}) {
    store_revision = 100;
    for (const ReplicatedInstance& state : states) Apply(*registry, ++store_revision, state);
    ReplicatedInstance ejected = states[4];
    ejected.ejected = true;
    Apply(*registry, ++store_revision, ejected);
    registry->BeginRevision(++store_revision << 16);
    registry->ApplyRemoval(InstanceKey{"svc-1", "i6", std::nullopt}, RemovalReason::kExpired);
    registry->ApplyRemoval(InstanceKey{"", "42", 42}, RemovalReason::kDeregistered);
  }
  const std::vector<std::string> seen = ChangesAfter(registry_, start);
  EXPECT_EQ(seen.size(), 20u + 1 + 2 + 1 + 1 + 1);  // adds, seed add, move (remove + add), eject, expiry, deregister
  EXPECT_EQ(seen, ChangesAfter(other, start));
}

TEST_F(ReplicaTest, ASeedIdMovedByTheStoreLeavesItsOldService) {
  Apply(registry_, 5, Stored(test::SeedSpec(42, "books")));
  Apply(registry_, 6, Stored(test::SeedSpec(42, "music")));
  EXPECT_TRUE(Addresses(registry_, "books").empty());
  EXPECT_EQ(Addresses(registry_, "music").size(), 1u);
  EXPECT_EQ(registry_.Totals().live, 1u);
  ASSERT_TRUE(registry_.SeedRenew(42, false).ok());
  ASSERT_TRUE(registry_.ApplyRemoval(InstanceKey{"", "42", 42}, RemovalReason::kDeregistered));
  EXPECT_EQ(registry_.Totals().live, 0u);
  EXPECT_EQ(registry_.SeedRenew(42, false).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ReplicaTest, EjectionAndReturnAreChangesOfTheStore) {
  const uint64_t start = registry_.Revision();
  ReplicatedInstance state = Stored(test::SeedSpec(7, "books"));
  Apply(registry_, 5, state);
  state.ejected = true;
  Apply(registry_, 6, state);
  EXPECT_TRUE(Addresses(registry_, "books").empty());
  // A heartbeat does not take it back by itself: it says a write is needed.
  absl::StatusOr<Renewal> renewal = registry_.SeedRenew(7, false);
  ASSERT_TRUE(renewal.ok());
  EXPECT_TRUE(renewal->needs_write);
  EXPECT_TRUE(Addresses(registry_, "books").empty());
  state.ejected = false;
  Apply(registry_, 7, state);
  EXPECT_EQ(Addresses(registry_, "books").size(), 1u);
  EXPECT_EQ(ChangesAfter(registry_, start).size(), 3u);  // added, removed (ejected), added
  EXPECT_FALSE(registry_.SeedRenew(7, false)->needs_write);
  EXPECT_TRUE(registry_.SeedRenew(7, true)->needs_write);  // the overloaded flag is stored
}

TEST_F(ReplicaTest, AHeldLeaseFallsDueAfterItsTtlAndStaysUntilTheStoreRemovesIt) {
  const ReplicatedInstance state = Stored(test::NativeSpec("web", "a", seconds(10)), kHeldHere, 5);
  Apply(registry_, 5, state);
  clock_.Advance(seconds(9));
  EXPECT_TRUE(Due().empty());
  ASSERT_TRUE(registry_.Renew(state.lease, false).ok());  // deadline now 19 s
  clock_.Advance(seconds(9));
  EXPECT_TRUE(Due().empty());
  clock_.Advance(seconds(2));
  std::vector<DueLease> due = Due();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].lease, state.lease);
  EXPECT_EQ(due[0].stored_revision, 5u);
  EXPECT_EQ(due[0].key.service, "web");
  EXPECT_EQ(due[0].key.instance_id, "a");
  // Past its deadline: out of discovery and not renewable, but not removed.
  EXPECT_TRUE(Addresses(registry_, "web").empty());
  EXPECT_EQ(registry_.Renew(state.lease, false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.Totals().live, 1u);
  // Reported again after the retry interval, until the removal is applied.
  EXPECT_TRUE(Due().empty());
  clock_.Advance(kRetry + milliseconds(200));
  EXPECT_EQ(Due().size(), 1u);
  ASSERT_TRUE(registry_.ApplyRemoval(due[0].key, RemovalReason::kExpired));
  clock_.Advance(kRetry + milliseconds(200));
  EXPECT_TRUE(Due().empty());
  EXPECT_EQ(registry_.Totals().expired, 1u);
}

TEST_F(ReplicaTest, ALeaseHeldElsewhereNeverFallsDueHereUntilItIsTakenOver) {
  ReplicatedInstance state = Stored(test::NativeSpec("web", "a", seconds(10)), kOtherNode);
  Apply(registry_, 5, state);
  EXPECT_EQ(registry_.Totals().held_elsewhere, 1u);
  clock_.Advance(seconds(60));
  EXPECT_TRUE(Due().empty());
  EXPECT_EQ(Addresses(registry_, "web").size(), 1u);
  absl::StatusOr<Renewal> renewal = registry_.Renew(state.lease, false);
  ASSERT_TRUE(renewal.ok());
  EXPECT_EQ(renewal->holder, kOtherNode);
  EXPECT_EQ(renewal->ttl, seconds(10));
  // Taken over: a full TTL from now, then due.
  state.holder = kHeldHere;
  state.stored_revision = 6;
  Apply(registry_, 6, state);
  EXPECT_EQ(registry_.Totals().held_elsewhere, 0u);
  clock_.Advance(seconds(9));
  EXPECT_TRUE(Due().empty());
  clock_.Advance(seconds(2));
  EXPECT_EQ(Due().size(), 1u);
  // Handed back to the other node: never due here again.
  state.holder = kOtherNode;
  Apply(registry_, 7, state);
  clock_.Advance(seconds(30));
  EXPECT_TRUE(Due().empty());
  EXPECT_EQ(registry_.Totals().held_elsewhere, 1u);
  // Gone: nothing is held anywhere.
  ASSERT_TRUE(registry_.ApplyRemoval(InstanceKey{"web", "a", std::nullopt}, RemovalReason::kDeregistered));
  EXPECT_EQ(registry_.Totals().held_elsewhere, 0u);
  EXPECT_EQ(registry_.Totals().live, 0u);
}

TEST_F(ReplicaTest, AQuietLoadLogsNothingAndResetHistoryTellsOldWatchersTheyLostIt) {
  const uint64_t before = registry_.Revision();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(registry_.Apply(Stored(test::NativeSpec("web", std::to_string(1000 + i), seconds(10))), true).ok());
  }
  const uint64_t loaded = (uint64_t{500} << 16) | 0xffff;
  registry_.ResetHistory(loaded);
  EXPECT_EQ(registry_.Revision(), loaded);
  EXPECT_EQ(Addresses(registry_, "web").size(), 10u);
  EXPECT_EQ(registry_.ServiceRevision("web"), loaded);
  WatchFeed old(registry_, "", before);
  std::optional<WatchBatch> batch = old.Next();
  ASSERT_TRUE(batch);
  EXPECT_TRUE(batch->history_lost);
  EXPECT_EQ(batch->changes.size(), 10u);
  WatchFeed current(registry_, "", loaded);
  EXPECT_TRUE(current.Next()->changes.empty());
}

TEST_F(ReplicaTest, ALeaseThatDoesNotRouteToItsServiceIsRefused) {
  ReplicatedInstance state = Stored(test::NativeSpec("web", "a", seconds(10)));
  state.lease = NewLeaseId(LeaseRouteOf("web") ^ 1);
  EXPECT_EQ(registry_.Apply(state).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.Totals().live, 0u);
}

}  // namespace
}  // namespace registryd
