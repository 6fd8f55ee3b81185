// The data files' framing: whole records come back, a torn or corrupt tail
// is found where it starts, files of another kind or a newer format are
// refused.
#include <gtest/gtest.h>

#include "persist/crc32c.h"
#include "persist/record_file.h"

namespace registryd {
namespace {

std::string JournalOf(const std::vector<std::string>& records) {
  std::string bytes = FileHeader(FileKind::kJournal, 16);
  for (const std::string& record : records) AppendFrame(bytes, record);
  return bytes;
}

TEST(Crc32cTest, KnownValues) {
  for (auto* crc : {&Crc32c, &Crc32cByTable}) {
    EXPECT_EQ(crc(""), 0u);
    EXPECT_EQ(crc("123456789"), 0xe3069283u);  // the CRC-32C check value
    EXPECT_EQ(crc(std::string(32, '\0')), 0x8a9136aau);  // RFC 3720, B.4: 32 bytes of zeros
    EXPECT_EQ(crc(std::string(32, '\xff')), 0x62a8ab43u);  // and of ones
  }
}

// The instruction path (8 bytes a step, then the tail) agrees with the table
// for every length and start, so files stay readable across processors.
TEST(Crc32cTest, EveryLengthAndAlignmentAgreesWithTheTable) {
  std::string bytes(300, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  for (size_t start = 0; start < 8; ++start) {
    for (size_t length = 0; start + length <= bytes.size(); ++length) {
      const std::string_view data(bytes.data() + start, length);
      ASSERT_EQ(Crc32c(data), Crc32cByTable(data)) << "start " << start << ", length " << length;
    }
  }
}

TEST(RecordFileTest, RecordsComeBackInOrder) {
  const std::vector<std::string> written = {"first", std::string(1000, 'x'), "", "last"};
  const std::string bytes = JournalOf(written);
  const absl::StatusOr<RecordFileContents> read = ParseRecordFile(bytes, FileKind::kJournal);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->shard_count, 16u);
  EXPECT_EQ(std::vector<std::string>(read->records.begin(), read->records.end()), written);
  EXPECT_EQ(read->valid_bytes, bytes.size());
  EXPECT_EQ(read->damage, "");
}

TEST(RecordFileTest, ATornTailStopsReadingAtTheLastWholeRecord) {
  const std::string whole = JournalOf({"kept-1", "kept-2"});
  const std::string bytes = JournalOf({"kept-1", "kept-2", "torn record"});
  // Every cut inside the last frame, its header included.
  for (size_t cut = whole.size() + 1; cut < bytes.size(); ++cut) {
    const absl::StatusOr<RecordFileContents> read = ParseRecordFile(bytes.substr(0, cut), FileKind::kJournal);
    ASSERT_TRUE(read.ok()) << cut;
    EXPECT_EQ(read->records.size(), 2u) << cut;
    EXPECT_EQ(read->valid_bytes, whole.size()) << cut;
    EXPECT_NE(read->damage, "") << cut;
  }
}

TEST(RecordFileTest, ACorruptRecordFailsItsChecksum) {
  std::string bytes = JournalOf({"kept", "corrupted", "after"});
  const size_t corrupt_at = bytes.find("corrupted");
  bytes[corrupt_at + 3] ^= 0x20;
  const absl::StatusOr<RecordFileContents> read = ParseRecordFile(bytes, FileKind::kJournal);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->records.size(), 1u);
  EXPECT_EQ(read->valid_bytes, corrupt_at - kFrameHeaderBytes);
  EXPECT_NE(read->damage.find("checksum"), std::string::npos) << read->damage;
}

TEST(RecordFileTest, AnImpossibleLengthIsDamageNotAnAllocation) {
  std::string bytes = JournalOf({"kept"});
  bytes += std::string("\xff\xff\xff\x7f\0\0\0\0", 8);
  const absl::StatusOr<RecordFileContents> read = ParseRecordFile(bytes, FileKind::kJournal);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->records.size(), 1u);
  EXPECT_NE(read->damage.find("impossible record length"), std::string::npos) << read->damage;
}

TEST(RecordFileTest, AnotherKindOrANewerFormatIsRefused) {
  const std::string journal = JournalOf({"x"});
  const absl::StatusOr<RecordFileContents> as_snapshot = ParseRecordFile(journal, FileKind::kSnapshot);
  EXPECT_EQ(as_snapshot.status().code(), absl::StatusCode::kFailedPrecondition);
  std::string newer = journal;
  newer[8] = static_cast<char>(kFormatVersion + 1);
  const absl::StatusOr<RecordFileContents> read = ParseRecordFile(newer, FileKind::kJournal);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(read.status().message().find("newer registryd"), std::string::npos) << read.status();
  EXPECT_EQ(ParseRecordFile("RGYD", FileKind::kJournal).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace registryd
