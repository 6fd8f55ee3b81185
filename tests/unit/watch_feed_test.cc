#include "core/watch_feed.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "test_specs.h"

namespace registryd {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::ExpireDue;
using test::NativeSpec;
using test::SeedSpec;

// (kind, service, instance id, reason) of a change, comparable in tests.
using Seen = std::tuple<ChangeKind, std::string, std::string, RemovalReason>;
constexpr ChangeKind kAdded = ChangeKind::kAdded;
constexpr ChangeKind kUpdated = ChangeKind::kUpdated;
constexpr ChangeKind kRemoved = ChangeKind::kRemoved;
constexpr RemovalReason kNone = RemovalReason::kNone;

std::vector<Seen> SeenIn(const WatchBatch& batch) {
  std::vector<Seen> seen;
  for (const Change& change : batch.changes) {
    seen.emplace_back(change.kind, change.service, std::string(change.instance->instance_id()), change.reason);
  }
  return seen;
}

std::vector<Seen> Sorted(std::vector<Seen> seen) {
  std::sort(seen.begin(), seen.end());
  return seen;
}

RegistryOptions FeedOptions(size_t log_capacity = 1024) {
  RegistryOptions options;
  options.tick = milliseconds(100);
  options.wheel_slots = 64;
  options.shard_count = 4;
  options.change_log_capacity = log_capacity;
  options.first_revision = 1000;
  return options;
}

class WatchFeedTest : public test::RegistryFixture {
 protected:
  explicit WatchFeedTest(const RegistryOptions& options = FeedOptions()) : RegistryFixture(options) {}
};

TEST_F(WatchFeedTest, StartsWithTheVisibleSetThenGivesEachChangeInRevisionOrder) {
  const LeaseId a = Register(NativeSpec("books", "a", seconds(10)));
  const LeaseId b = Register(NativeSpec("books", "b", seconds(10)));
  Register(NativeSpec("films", "f", seconds(10)));
  WatchFeed feed(registry_, "books", 0);

  const std::optional<WatchBatch> snapshot = feed.Next();
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_TRUE(snapshot->snapshot);
  EXPECT_FALSE(snapshot->history_lost);
  EXPECT_EQ(Sorted(SeenIn(*snapshot)), (std::vector<Seen>{{kAdded, "books", "a", kNone}, {kAdded, "books", "b", kNone}}));
  EXPECT_EQ(snapshot->revision, registry_.Revision());
  EXPECT_FALSE(feed.Next().has_value()) << "nothing changed";

  Register(NativeSpec("books", "c", seconds(10)));
  ASSERT_TRUE(registry_.Heartbeat(b, true).ok());   // overloaded: an update
  ASSERT_TRUE(registry_.Heartbeat(b, true).ok());   // no change: no event
  Register(NativeSpec("films", "g", seconds(10)));  // another service
  ASSERT_TRUE(registry_.Deregister(a).ok());

  const std::optional<WatchBatch> changes = feed.Next();
  ASSERT_TRUE(changes.has_value());
  EXPECT_FALSE(changes->snapshot);
  EXPECT_EQ(SeenIn(*changes), (std::vector<Seen>{{kAdded, "books", "c", kNone},
                                                 {kUpdated, "books", "b", kNone},
                                                 {kRemoved, "books", "a", RemovalReason::kDeregistered}}));
  EXPECT_LT(changes->changes[0].revision, changes->changes[1].revision);
  EXPECT_LT(changes->changes[1].revision, changes->changes[2].revision);
  EXPECT_TRUE(changes->changes[1].instance->overloaded);
  EXPECT_EQ(changes->revision, registry_.Revision());
  EXPECT_FALSE(feed.Next().has_value());
}

TEST_F(WatchFeedTest, RemovalsSayWhy) {
  Register(NativeSpec("books", "short", seconds(1)));
  const LeaseId gone = Register(NativeSpec("books", "gone", seconds(10)));
  Register(SeedSpec(7, "books"));
  WatchFeed feed(registry_, "books", 0);
  ASSERT_TRUE(feed.Next().has_value());

  ASSERT_TRUE(registry_.Deregister(gone).ok());
  ASSERT_TRUE(registry_.WarnServerError(7)->known);
  ASSERT_TRUE(registry_.WarnServerError(7)->known);  // already out: no second event
  clock_.Advance(milliseconds(1200));
  ASSERT_EQ(ExpireDue(registry_).size(), 1u);
  ASSERT_TRUE(registry_.SeedHeartbeat(7, false).ok());  // back in rotation

  const std::optional<WatchBatch> changes = feed.Next();
  ASSERT_TRUE(changes.has_value());
  EXPECT_EQ(SeenIn(*changes), (std::vector<Seen>{{kRemoved, "books", "gone", RemovalReason::kDeregistered},
                                                 {kRemoved, "books", "7", RemovalReason::kEjected},
                                                 {kRemoved, "books", "short", RemovalReason::kExpired},
                                                 {kAdded, "books", "7", kNone}}));
}

TEST_F(WatchFeedTest, ResumingGivesExactlyTheChangesMissed) {
  Register(NativeSpec("books", "a", seconds(10)));
  WatchFeed first(registry_, "books", 0);
  const uint64_t left_at = first.Next()->revision;

  const LeaseId b = Register(NativeSpec("books", "b", seconds(10)));
  RegisterSpec relabelled = NativeSpec("books", "a", seconds(10));
  relabelled.metadata = {{"zone", "eu"}};
  Register(relabelled);
  ASSERT_TRUE(registry_.Deregister(b).ok());

  WatchFeed resumed(registry_, "books", left_at);
  const std::optional<WatchBatch> missed = resumed.Next();
  ASSERT_TRUE(missed.has_value());
  EXPECT_FALSE(missed->snapshot);
  EXPECT_EQ(SeenIn(*missed), (std::vector<Seen>{{kAdded, "books", "b", kNone},
                                                {kUpdated, "books", "a", kNone},
                                                {kRemoved, "books", "b", RemovalReason::kDeregistered}}));
  EXPECT_EQ(missed->changes[1].instance->metadata(), relabelled.metadata);

  WatchFeed up_to_date(registry_, "books", missed->revision);
  const std::optional<WatchBatch> nothing = up_to_date.Next();
  ASSERT_TRUE(nothing.has_value()) << "a resume is always answered";
  EXPECT_FALSE(nothing->snapshot);
  EXPECT_TRUE(nothing->changes.empty());
  EXPECT_EQ(nothing->revision, missed->revision);
}

TEST_F(WatchFeedTest, ARevisionFromAnotherRunOfTheRegistryGetsASnapshot) {
  Register(NativeSpec("books", "a", seconds(10)));
  for (const uint64_t foreign : {registry_.Revision() + 50, uint64_t{3}}) {
    WatchFeed feed(registry_, "books", foreign);
    const std::optional<WatchBatch> batch = feed.Next();
    ASSERT_TRUE(batch.has_value());
    EXPECT_TRUE(batch->snapshot);
    EXPECT_TRUE(batch->history_lost);
    EXPECT_EQ(SeenIn(*batch), (std::vector<Seen>{{kAdded, "books", "a", kNone}}));
  }
}

class SmallLogWatchFeedTest : public WatchFeedTest {
 protected:
  SmallLogWatchFeedTest() : WatchFeedTest(FeedOptions(4)) {}
};

TEST_F(SmallLogWatchFeedTest, ChangesNoLongerKeptGiveASnapshotMarkedAsSuch) {
  const LeaseId a = Register(NativeSpec("books", "a", seconds(10)));
  WatchFeed feed(registry_, "books", 0);
  const uint64_t left_at = feed.Next()->revision;
  for (int i = 0; i < 6; ++i) Register(NativeSpec("books", "n" + std::to_string(i), seconds(10)));
  ASSERT_TRUE(registry_.Deregister(a).ok());

  WatchFeed resumed(registry_, "books", left_at);
  for (WatchFeed* reader : {&feed, &resumed}) {
    const std::optional<WatchBatch> batch = reader->Next();
    ASSERT_TRUE(batch.has_value());
    EXPECT_TRUE(batch->snapshot);
    EXPECT_TRUE(batch->history_lost);
    EXPECT_EQ(batch->changes.size(), 6u);
    EXPECT_EQ(batch->revision, registry_.Revision());
  }
}

// The journal's feed does not read the registry when it falls out of the
// logs: an empty batch says so, the feed stays where it was, and once the
// caller skips it forward (after its own snapshot) it goes on from there.
TEST_F(SmallLogWatchFeedTest, WithoutReadingLostHistoryALossIsOnlyMarked) {
  WatchFeed feed(registry_, "", registry_.Revision(), /*coalesce=*/false, /*read_lost_history=*/false);
  const uint64_t started_at = registry_.Revision();
  for (int i = 0; i < 6; ++i) Register(NativeSpec("books", "n" + std::to_string(i), seconds(10)));

  const std::optional<WatchBatch> lost = feed.Next();
  ASSERT_TRUE(lost.has_value());
  EXPECT_TRUE(lost->snapshot);
  EXPECT_TRUE(lost->history_lost);
  EXPECT_TRUE(lost->changes.empty());
  EXPECT_EQ(feed.revision(), started_at);

  feed.SkipTo(registry_.Revision());
  Register(NativeSpec("books", "after", seconds(10)));
  const std::optional<WatchBatch> next = feed.Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_FALSE(next->snapshot);
  EXPECT_EQ(SeenIn(*next), (std::vector<Seen>{{kAdded, "books", "after", kNone}}));
}

TEST_F(WatchFeedTest, AWatcherThatFellBehindGetsOneChangePerInstance) {
  const LeaseId busy = Register(NativeSpec("books", "busy", seconds(10)));
  const LeaseId leaving = Register(NativeSpec("books", "leaving", seconds(10)));
  WatchFeed feed(registry_, "books", 0);
  ASSERT_TRUE(feed.Next().has_value());

  for (size_t i = 0; i < WatchFeed::kCoalesceAbove; ++i) ASSERT_TRUE(registry_.Heartbeat(busy, i % 2 == 0).ok());
  const LeaseId brief = Register(NativeSpec("books", "brief", seconds(10)));
  ASSERT_TRUE(registry_.Deregister(brief).ok());
  ASSERT_TRUE(registry_.Deregister(leaving).ok());
  Register(NativeSpec("books", "new", seconds(10)));

  const std::optional<WatchBatch> batch = feed.Next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_TRUE(batch->coalesced);
  EXPECT_EQ(SeenIn(*batch), (std::vector<Seen>{{kUpdated, "books", "busy", kNone},
                                               {kRemoved, "books", "leaving", RemovalReason::kDeregistered},
                                               {kAdded, "books", "new", kNone}}));
  EXPECT_FALSE(batch->changes[0].instance->overloaded) << "the latest state";
}

TEST_F(WatchFeedTest, WatchingEveryServiceMergesTheShardsInRevisionOrder) {
  std::vector<std::string> services;
  for (int i = 0; i < 12; ++i) services.push_back("svc-" + std::to_string(i));
  Register(NativeSpec(services[0], "old", seconds(10)));
  WatchFeed feed(registry_, "", 0);
  const std::optional<WatchBatch> snapshot = feed.Next();
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(SeenIn(*snapshot), (std::vector<Seen>{{kAdded, services[0], "old", kNone}}));

  std::vector<Seen> expected;
  for (const std::string& service : services) {
    Register(NativeSpec(service, "i", seconds(10)));
    expected.emplace_back(kAdded, service, "i", kNone);
  }
  const std::optional<WatchBatch> changes = feed.Next();
  ASSERT_TRUE(changes.has_value());
  EXPECT_EQ(SeenIn(*changes), expected);
  for (size_t i = 1; i < changes->changes.size(); ++i) {
    EXPECT_LT(changes->changes[i - 1].revision, changes->changes[i].revision);
  }

  WatchFeed late(registry_, "", 0);
  EXPECT_EQ(late.Next()->changes.size(), services.size() + 1);
}

TEST(CoalesceChangesTest, KeepsWhatAWatcherNeedsToReachTheLatestState) {
  const auto change = [](ChangeKind kind, std::string id, uint64_t revision) {
    return Change{revision, kind, kind == kRemoved ? RemovalReason::kExpired : kNone, "s",
                  InstanceRecord::Make(id, "h", {})};
  };
  std::vector<Change> changes;
  changes.push_back(change(kAdded, "added-then-updated", 1));
  changes.push_back(change(kUpdated, "added-then-updated", 2));
  changes.push_back(change(kAdded, "added-then-removed", 3));
  changes.push_back(change(kRemoved, "added-then-removed", 4));
  changes.push_back(change(kRemoved, "removed-then-added", 5));
  changes.push_back(change(kAdded, "removed-then-added", 6));
  changes.push_back(change(kUpdated, "updated-then-removed", 7));
  changes.push_back(change(kRemoved, "updated-then-removed", 8));
  WatchBatch batch;
  batch.changes = CoalesceChanges(std::move(changes));
  EXPECT_EQ(SeenIn(batch), (std::vector<Seen>{{kAdded, "s", "added-then-updated", kNone},
                                              {kUpdated, "s", "removed-then-added", kNone},
                                              {kRemoved, "s", "updated-then-removed", RemovalReason::kExpired}}));
  EXPECT_EQ(batch.changes[0].revision, 2u);
}

class CountingListener final : public ChangeListener {
 public:
  void OnChanges(uint32_t shard) override { ++calls[shard]; }
  std::map<uint32_t, int> calls;
};

TEST_F(WatchFeedTest, TheListenerHearsOfChangesButNotOfPlainHeartbeats) {
  CountingListener listener;
  registry_.add_change_listener(&listener);
  const LeaseId lease = Register(NativeSpec("books", "a", seconds(1)));
  const uint32_t shard = registry_.ShardOfService("books");
  EXPECT_EQ(listener.calls[shard], 1);
  ASSERT_TRUE(registry_.Heartbeat(lease, false).ok());
  EXPECT_EQ(listener.calls[shard], 1);
  clock_.Advance(seconds(2));
  ExpireDue(registry_);
  EXPECT_EQ(listener.calls[shard], 2);
  registry_.remove_change_listener(&listener);
}

}  // namespace
}  // namespace registryd
