#include "persist/record_file.h"

#include <cstring>

#include <fmt/core.h>

#include "absl/status/status.h"
#include "persist/crc32c.h"

namespace registryd {
namespace {

constexpr std::string_view kSnapshotMagic = "RGYDSNAP";
constexpr std::string_view kJournalMagic = "RGYDJRNL";

std::string_view MagicOf(FileKind kind) { return kind == FileKind::kSnapshot ? kSnapshotMagic : kJournalMagic; }

void AppendUint32(std::string& out, uint32_t value) {
  for (int byte = 0; byte < 4; ++byte) out.push_back(static_cast<char>((value >> (8 * byte)) & 0xff));
}

uint32_t ReadUint32(std::string_view bytes, size_t at) {
  uint32_t value = 0;
  for (int byte = 3; byte >= 0; --byte) value = (value << 8) | static_cast<unsigned char>(bytes[at + byte]);
  return value;
}

}  // namespace

std::string FileHeader(FileKind kind, uint32_t shard_count) {
  std::string header(MagicOf(kind));
  AppendUint32(header, kFormatVersion);
  AppendUint32(header, shard_count);
  return header;
}

void WriteFrameHeader(char* at, std::string_view record) {
  const uint32_t fields[] = {static_cast<uint32_t>(record.size()), Crc32c(record)};
  for (int field = 0; field < 2; ++field) {
    for (int byte = 0; byte < 4; ++byte) at[4 * field + byte] = static_cast<char>((fields[field] >> (8 * byte)) & 0xff);
  }
}

void AppendFrame(std::string& out, std::string_view record) {
  AppendFrameInPlace(out, record.size(), [&](char* at) { std::memcpy(at, record.data(), record.size()); });
}

absl::StatusOr<RecordReader> RecordReader::Open(std::string_view bytes, FileKind kind) {
  const std::string_view magic = MagicOf(kind);
  if (bytes.size() < kFileHeaderBytes || bytes.substr(0, magic.size()) != magic) {
    return absl::FailedPreconditionError(fmt::format("not a registryd {} file (no {} header)",
                                                     kind == FileKind::kSnapshot ? "snapshot" : "journal", magic));
  }
  const uint32_t version = ReadUint32(bytes, 8);
  if (version > kFormatVersion) {
    return absl::FailedPreconditionError(
        fmt::format("written in data format {} by a newer registryd; this one reads format {} and older", version,
                    kFormatVersion));
  }
  return RecordReader(bytes, ReadUint32(bytes, 12));
}

std::optional<std::string_view> RecordReader::Next() {
  if (at_ >= bytes_.size() || !damage_.empty()) return std::nullopt;
  if (bytes_.size() - at_ < kFrameHeaderBytes) {
    damage_ = fmt::format("a torn record header at byte {}", at_);
    return std::nullopt;
  }
  const uint32_t length = ReadUint32(bytes_, at_);
  const uint32_t checksum = ReadUint32(bytes_, at_ + 4);
  if (length > kMaxRecordBytes) {
    damage_ = fmt::format("an impossible record length {} at byte {}", length, at_);
    return std::nullopt;
  }
  if (bytes_.size() - at_ - kFrameHeaderBytes < length) {
    damage_ = fmt::format("a torn record at byte {} ({} of its {} bytes)", at_, bytes_.size() - at_ - kFrameHeaderBytes,
                          length);
    return std::nullopt;
  }
  const std::string_view record = bytes_.substr(at_ + kFrameHeaderBytes, length);
  if (Crc32c(record) != checksum) {
    damage_ = fmt::format("a record failing its checksum at byte {}", at_);
    return std::nullopt;
  }
  at_ += kFrameHeaderBytes + length;
  return record;
}

absl::StatusOr<RecordFileContents> ParseRecordFile(std::string_view bytes, FileKind kind) {
  absl::StatusOr<RecordReader> reader = RecordReader::Open(bytes, kind);
  if (!reader.ok()) return reader.status();
  RecordFileContents contents;
  contents.shard_count = reader->shard_count();
  while (std::optional<std::string_view> record = reader->Next()) contents.records.push_back(*record);
  contents.valid_bytes = reader->position();
  contents.damage = reader->damage();
  return contents;
}

}  // namespace registryd
