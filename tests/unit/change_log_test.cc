// The change log's ring: the watch history, and what it keeps beyond it for
// a reader that must see every change.
#include "core/change_log.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace registryd {
namespace {

Change ChangeAt(uint64_t revision, std::string service = "s") {
  return Change{revision, ChangeKind::kAdded, RemovalReason::kNone, std::move(service), nullptr};
}

std::vector<uint64_t> Revisions(const ChangeLog& log, uint64_t after, std::string_view service = "") {
  std::vector<Change> out;
  if (!log.CopySince(service, after, UINT64_MAX, out)) return {};
  std::vector<uint64_t> revisions;
  for (const Change& change : out) revisions.push_back(change.revision);
  return revisions;
}

TEST(ChangeLogTest, KeepsTheLastCapacityChangesWhenEveryOneMayGo) {
  ChangeLog log(4, 100);
  for (uint64_t revision = 101; revision <= 110; ++revision) log.Append(ChangeAt(revision), UINT64_MAX);
  EXPECT_EQ(log.size(), 4u);
  EXPECT_EQ(log.extra(), 0u);
  EXPECT_EQ(Revisions(log, 106), (std::vector<uint64_t>{107, 108, 109, 110}));
  std::vector<Change> out;
  EXPECT_FALSE(log.CopySince("", 105, UINT64_MAX, out)) << "106 was dropped";
}

TEST(ChangeLogTest, KeepsWhatIsNotDroppableBeyondItsCapacity) {
  ChangeLog log(4, 100);
  // A reader has read up to 102: later changes stay, however many.
  for (uint64_t revision = 101; revision <= 1100; ++revision) log.Append(ChangeAt(revision), 102);
  EXPECT_EQ(log.size(), 998u) << "101 and 102 went to make room; nothing after";
  EXPECT_EQ(log.extra(), 994u);
  const std::vector<uint64_t> all = Revisions(log, 102);
  ASSERT_EQ(all.size(), 998u);
  EXPECT_EQ(all.front(), 103u);
  EXPECT_EQ(all.back(), 1100u);

  // Read up to 1000: what is beyond the capacity and read goes.
  EXPECT_EQ(log.DropOldest(1000), 898u);
  EXPECT_EQ(log.size(), 100u);
  EXPECT_EQ(Revisions(log, 1000).size(), 100u);
  // All read: back to the capacity, and the ring keeps working as before.
  EXPECT_EQ(log.DropOldest(UINT64_MAX), 96u);
  EXPECT_EQ(log.extra(), 0u);
  for (uint64_t revision = 1101; revision <= 1120; ++revision) log.Append(ChangeAt(revision), UINT64_MAX);
  EXPECT_EQ(Revisions(log, 1116), (std::vector<uint64_t>{1117, 1118, 1119, 1120}));
}

TEST(ChangeLogTest, FindsAServicesChangesAcrossAGrownRing) {
  ChangeLog log(2, 0);
  for (uint64_t revision = 1; revision <= 40; ++revision) {
    log.Append(ChangeAt(revision, revision % 3 == 0 ? "three" : "other"), 0);
  }
  EXPECT_EQ(Revisions(log, 20, "three"), (std::vector<uint64_t>{21, 24, 27, 30, 33, 36, 39}));
}

}  // namespace
}  // namespace registryd
