// The framing of registryd's data files. A file starts with a 16-byte
// header: an 8-byte magic naming its kind, the format version and the
// registry's shard count (little-endian uint32s). Records follow, each framed
// as its length and the CRC-32C of its bytes (little-endian uint32s), then
// the bytes (a serialized stored::Record).
//
// A crash can leave the last record of a journal torn: reading stops at the
// first frame that is short or fails its checksum, and says where.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace registryd {

enum class FileKind { kSnapshot, kJournal };

constexpr uint32_t kFormatVersion = 1;
constexpr size_t kFileHeaderBytes = 16;
constexpr size_t kFrameHeaderBytes = 8;
// Far above any record (a request is at most 64 KiB): a longer frame is
// corruption, not a record.
constexpr uint32_t kMaxRecordBytes = 1 << 24;

std::string FileHeader(FileKind kind, uint32_t shard_count);
// Writes a frame's header (length and CRC) for `record` at `at`.
void WriteFrameHeader(char* at, std::string_view record);
// Appends the frame of a `size`-byte record that `write_record(char* at)`
// writes in place, so the record is never copied.
template <typename WriteRecord>
void AppendFrameInPlace(std::string& out, size_t size, WriteRecord&& write_record) {
  const size_t start = out.size();
  out.resize(start + kFrameHeaderBytes + size);
  char* record = out.data() + start + kFrameHeaderBytes;
  write_record(record);
  WriteFrameHeader(out.data() + start, std::string_view(record, size));
}
// Appends `record` framed to `out`.
void AppendFrame(std::string& out, std::string_view record);

// Reads a file's records one at a time, checking each frame, without
// copying them: a reader holds only its position.
class RecordReader {
 public:
  // FailedPrecondition for a file that is not of `kind` or is of a later
  // format version (refused, never guessed at).
  static absl::StatusOr<RecordReader> Open(std::string_view bytes, FileKind kind);

  uint32_t shard_count() const { return shard_count_; }
  // The next whole, checked record (into the bytes); nothing at the end of
  // the file, or at damage, which damage() then names.
  std::optional<std::string_view> Next();
  // The header and every record returned so far: where a torn tail starts.
  size_t position() const { return at_; }
  // Why reading stopped before the end; empty when it did not.
  const std::string& damage() const { return damage_; }

 private:
  RecordReader(std::string_view bytes, uint32_t shard_count)
      : bytes_(bytes), shard_count_(shard_count), at_(kFileHeaderBytes) {}

  std::string_view bytes_;
  uint32_t shard_count_;
  size_t at_;
  std::string damage_;
};

// A whole file's records at once (small files: headers, tests).
struct RecordFileContents {
  uint32_t shard_count = 0;
  std::vector<std::string_view> records;  // into the parsed bytes
  // The header and every whole, checked frame: where a torn tail starts.
  size_t valid_bytes = 0;
  // Why reading stopped before the end; empty when it did not.
  std::string damage;
};
absl::StatusOr<RecordFileContents> ParseRecordFile(std::string_view bytes, FileKind kind);

}  // namespace registryd
