#include "core/record_table.h"

#include <gtest/gtest.h>

#include "core/record_set.h"

namespace registryd {
namespace {

InstanceRecordPtr RecordOf(std::string_view instance_id, LeaseId lease) {
  InstanceRecordPtr record = InstanceRecord::Make(instance_id, "10.0.0.1", {});
  record->lease = lease;
  return record;
}

TEST(RecordTableTest, AnIndexNamesItsRecordUntilRemovedThenIsHandedOutAgain) {
  RecordTable table;
  const RecordIndex a = table.Add(RecordOf("a", 1));
  const RecordIndex b = table.Add(RecordOf("b", 2));
  EXPECT_NE(a, b);
  EXPECT_EQ(table[a].instance_id(), "a");
  EXPECT_EQ(table[b].instance_id(), "b");
  EXPECT_EQ(table.size(), 2u);

  table.Remove(a);
  EXPECT_EQ(table.Find(a), nullptr);
  EXPECT_EQ(table.size(), 1u);
  const RecordIndex c = table.Add(RecordOf("c", 3));
  EXPECT_EQ(c, a) << "a freed index is reused";
  EXPECT_EQ(table[c].instance_id(), "c");
  EXPECT_EQ(table[b].instance_id(), "b");
}

TEST(RecordTableTest, AnIndexNeverHandedOutIsFree) {
  RecordTable table;
  EXPECT_EQ(table.Find(RecordIndex{0}), nullptr);
  table.Add(RecordOf("a", 1));
  EXPECT_EQ(table.Find(RecordIndex{1}), nullptr);
  EXPECT_EQ(table.Find(RecordIndex{100'000}), nullptr);
}

TEST(RecordTableTest, RecordsStayPutAcrossManyChunks) {
  RecordTable table;
  std::vector<const InstanceRecord*> addresses;
  std::vector<RecordIndex> indexes;
  for (int i = 0; i < 10'000; ++i) {
    indexes.push_back(table.Add(RecordOf(std::to_string(i), static_cast<LeaseId>(i + 1))));
    addresses.push_back(&table[indexes.back()]);
  }
  for (int i = 0; i < 10'000; ++i) {
    EXPECT_EQ(&table[indexes[i]], addresses[i]);
    EXPECT_EQ(table[indexes[i]].lease, static_cast<LeaseId>(i + 1));
  }
}

TEST(RecordTableTest, ReplaceKeepsTheIndex) {
  RecordTable table;
  const RecordIndex index = table.Add(RecordOf("a", 7));
  InstanceRecordPtr moved = InstanceRecord::WithText(table[index], "db.example.com", {{"zone", "eu"}}, "");
  table.Replace(index, std::move(moved));
  EXPECT_EQ(table[index].host(), "db.example.com");
  EXPECT_EQ(table[index].lease, 7u);
  EXPECT_EQ(table.size(), 1u);
}

TEST(RecordSetTest, FindsIndexesByTheirRecordsKey) {
  RecordTable table;
  RecordSet<LeaseKey> by_lease = MakeRecordSet<LeaseKey>(table);
  RecordSet<InstanceIdKey> by_id = MakeRecordSet<InstanceIdKey>(table);
  for (LeaseId lease = 1; lease <= 1000; ++lease) {
    const RecordIndex index = table.Add(RecordOf("i" + std::to_string(lease), lease * 7919));
    by_lease.insert(index);
    by_id.insert(index);
  }
  const auto found = by_lease.find(LeaseId{500 * 7919});
  ASSERT_NE(found, by_lease.end());
  EXPECT_EQ(table[*found].instance_id(), "i500");
  EXPECT_FALSE(by_lease.contains(LeaseId{501}));
  const auto named = by_id.find(std::string_view("i42"));
  ASSERT_NE(named, by_id.end());
  EXPECT_EQ(table[*named].lease, 42u * 7919);

  by_lease.erase(LeaseId{500 * 7919});
  EXPECT_FALSE(by_lease.contains(LeaseId{500 * 7919}));
  EXPECT_EQ(by_lease.size(), 999u);
}

}  // namespace
}  // namespace registryd
