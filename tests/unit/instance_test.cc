#include "core/instance.h"

#include <string>

#include <gtest/gtest.h>

#include "core/limits.h"

namespace registryd {
namespace {

TEST(InstanceRecordTest, KeepsItsTextAndMetadataInOnePiece) {
  const Metadata metadata = {{"version", "2.3"}, {"zone", "eu-1"}};
  InstanceRecordPtr record = InstanceRecord::Make("web-1", "10.0.0.7", metadata);
  record->port = 8080;
  EXPECT_EQ(record->instance_id(), "web-1");
  EXPECT_EQ(record->host(), "10.0.0.7");
  EXPECT_EQ(record->Address(), "10.0.0.7:8080");
  EXPECT_EQ(record->metadata(), metadata);
  EXPECT_TRUE(record->HasMetadata(metadata));
}

TEST(InstanceRecordTest, HasMetadataComparesEveryKeyAndValue) {
  InstanceRecordPtr record = InstanceRecord::Make("a", "h", {{"k", "v"}, {"z", "1"}});
  EXPECT_FALSE(record->HasMetadata({}));
  EXPECT_FALSE(record->HasMetadata({{"k", "v"}}));
  EXPECT_FALSE(record->HasMetadata({{"k", "v"}, {"z", "2"}}));
  EXPECT_FALSE(record->HasMetadata({{"k", "v"}, {"y", "1"}}));
  EXPECT_FALSE(record->HasMetadata({{"k", "v"}, {"z", "1"}, {"zz", ""}}));
  InstanceRecordPtr bare = InstanceRecord::Make("a", "h", {});
  EXPECT_TRUE(bare->HasMetadata({}));
  EXPECT_TRUE(bare->metadata().empty());
}

TEST(InstanceRecordTest, HoldsTheLargestValidInput) {
  const std::string id(limits::kMaxInstanceIdBytes, 'i');
  const std::string host(limits::kMaxHostBytes, 'h');
  Metadata metadata;
  // One value as long as the limit allows next to the longest keys, and empty values.
  metadata.emplace_back(std::string(limits::kMaxMetadataKeyBytes, 'a'),
                        std::string(limits::kMaxMetadataBytes - 4 * limits::kMaxMetadataKeyBytes, 'v'));
  for (char key = 'b'; key <= 'd'; ++key) metadata.emplace_back(std::string(limits::kMaxMetadataKeyBytes, key), "");
  InstanceRecordPtr record = InstanceRecord::Make(id, host, metadata);
  EXPECT_EQ(record->instance_id(), id);
  EXPECT_EQ(record->host(), host);
  EXPECT_EQ(record->metadata(), metadata);
  EXPECT_TRUE(record->HasMetadata(metadata));
}

TEST(InstanceRecordTest, WithTextCarriesEveryOtherField) {
  InstanceRecordPtr record = InstanceRecord::Make("7", "10.0.0.1", {});
  record->lease = 99;
  record->deadline = TimePoint{} + std::chrono::seconds(5);
  record->member_index = 3;
  record->filed_at = 11;
  record->port = 7000;
  record->overloaded = true;
  record->ejected = true;
  record->set_ttl(std::chrono::seconds(30));
  record->set_seed_id(7);
  InstanceRecordPtr moved = InstanceRecord::WithText(*record, "db.example.com", {{"k", "v"}}, "spiffe://shop/a");
  EXPECT_EQ(moved->instance_id(), "7");
  EXPECT_EQ(moved->owner(), "spiffe://shop/a");
  EXPECT_EQ(moved->host(), "db.example.com");
  EXPECT_EQ(moved->metadata(), (Metadata{{"k", "v"}}));
  EXPECT_EQ(moved->lease, 99u);
  EXPECT_EQ(moved->deadline, record->deadline);
  EXPECT_EQ(moved->member_index, 3u);
  EXPECT_EQ(moved->filed_at, 11u);
  EXPECT_EQ(moved->port, 7000);
  EXPECT_TRUE(moved->overloaded);
  EXPECT_TRUE(moved->ejected);
  EXPECT_EQ(moved->ttl(), std::chrono::seconds(30));
  EXPECT_EQ(moved->seed_id(), 7);
}

TEST(InstanceRecordTest, TheStoredRevisionHasRoomOnlyInRecordsMadeForIt) {
  // Standalone records carry no revision: their memory is the registry's.
  InstanceRecordPtr plain = InstanceRecord::Make("web-1", "10.0.0.7", {{"zone", "z1"}});
  EXPECT_FALSE(plain->has_stored_revision());
  EXPECT_EQ(plain->stored_revision(), 0u);
  EXPECT_EQ(plain->Clone()->stored_revision(), 0u);

  InstanceRecordPtr replicated = InstanceRecord::Make("web-1", "10.0.0.7", {{"zone", "z1"}}, true);
  replicated->set_stored_revision(0x0123456789abcdefu);
  EXPECT_EQ(replicated->stored_revision(), 0x0123456789abcdefu);
  EXPECT_EQ(replicated->metadata(), (Metadata{{"zone", "z1"}}));  // the revision sits past the text
  EXPECT_EQ(replicated->Clone()->stored_revision(), 0x0123456789abcdefu);
  // New text, longer or shorter: the revision moves along.
  InstanceRecordPtr longer =
      InstanceRecord::WithText(*replicated, "db.example.com", {{"zone", "z2"}, {"k", "v"}}, "");
  EXPECT_EQ(longer->stored_revision(), 0x0123456789abcdefu);
  EXPECT_EQ(longer->metadata(), (Metadata{{"zone", "z2"}, {"k", "v"}}));
  EXPECT_EQ(InstanceRecord::WithText(*longer, "h", {}, "")->stored_revision(), 0x0123456789abcdefu);
  // A plain record given room takes a revision from then on.
  InstanceRecordPtr given = InstanceRecord::WithText(*plain, "10.0.0.7", {}, "", /*with_revision=*/true);
  EXPECT_EQ(given->stored_revision(), 0u);
  given->set_stored_revision(5);
  EXPECT_EQ(given->stored_revision(), 5u);
}

TEST(InstanceRecordTest, TheOwnerSitsBetweenTheMetadataAndTheRevision) {
  InstanceRecordPtr plain = InstanceRecord::Make("web-1", "10.0.0.7", {{"zone", "z1"}});
  EXPECT_EQ(plain->owner(), "");
  const std::string owner(255, 'o');  // the longest identity
  InstanceRecordPtr owned = InstanceRecord::Make("web-1", "10.0.0.7", {{"zone", "z1"}}, true, owner);
  owned->set_stored_revision(42);
  EXPECT_EQ(owned->owner(), owner);
  EXPECT_EQ(owned->metadata(), (Metadata{{"zone", "z1"}}));
  EXPECT_EQ(owned->stored_revision(), 42u);
  InstanceRecordPtr copy = owned->Clone();
  EXPECT_EQ(copy->owner(), owner);
  EXPECT_EQ(copy->stored_revision(), 42u);
  // Another owner, or none, is new text: it needs a new record.
  EXPECT_FALSE(owned->TextDiffers("10.0.0.7", {{"zone", "z1"}}, owner));
  EXPECT_TRUE(owned->TextDiffers("10.0.0.7", {{"zone", "z1"}}, "spiffe://shop/b"));
  InstanceRecordPtr taken = InstanceRecord::WithText(*owned, "10.0.0.7", {{"zone", "z1"}}, "spiffe://shop/b");
  EXPECT_EQ(taken->owner(), "spiffe://shop/b");
  EXPECT_EQ(taken->stored_revision(), 42u);
  EXPECT_EQ(InstanceRecord::WithText(*taken, "h", {}, "")->owner(), "");
}

TEST(InstanceRecordTest, TtlIsKeptInWholeMilliseconds) {
  InstanceRecordPtr record = InstanceRecord::Make("a", "h", {});
  record->set_ttl(std::chrono::hours(24 * 30));
  EXPECT_EQ(record->ttl(), std::chrono::hours(24 * 30));
  record->set_ttl(std::chrono::microseconds(1500));
  EXPECT_EQ(record->ttl(), std::chrono::milliseconds(1));
}

}  // namespace
}  // namespace registryd
