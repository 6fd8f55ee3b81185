#include "persist/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/core.h>

#include "core/mapped_file.h"
#include "persist/record_file.h"

namespace registryd {
namespace {

constexpr std::string_view kSnapshotPrefix = "snapshot-";
constexpr std::string_view kJournalPrefix = "journal-";

absl::Status Errno(const std::string& what) {
  return absl::FailedPreconditionError(fmt::format("{}: {}", what, std::strerror(errno)));
}

absl::Status FileSystemError(const std::string& what, const std::error_code& error) {
  return absl::FailedPreconditionError(fmt::format("{}: {}", what, error.message()));
}

// The generation in "snapshot-<N>" or "journal-<N>"; nothing for other names.
std::optional<uint64_t> GenerationOf(std::string_view name, std::string_view prefix) {
  if (name.substr(0, prefix.size()) != prefix || name.size() == prefix.size()) return std::nullopt;
  uint64_t generation = 0;
  for (const char digit : name.substr(prefix.size())) {
    if (digit < '0' || digit > '9') return std::nullopt;
    generation = generation * 10 + static_cast<uint64_t>(digit - '0');
  }
  return generation;
}

}  // namespace

DataDir::DataDir(DataDir&& other) noexcept
    : path_(std::move(other.path_)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      generation_(other.generation_),
      has_snapshot_(other.has_snapshot_),
      stored_shard_count_(other.stored_shard_count_) {}

DataDir::~DataDir() {
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the lock
}

absl::StatusOr<DataDir> DataDir::Open(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return absl::FailedPreconditionError(fmt::format("cannot create data dir {}: {}", path, error.message()));
  const std::string lock_path = path + "/LOCK";
  const int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return Errno("cannot open " + lock_path);
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    close(lock_fd);
    return absl::FailedPreconditionError(
        fmt::format("data dir {} is in use by another registryd (its LOCK is held)", path));
  }
  DataDir dir(path, lock_fd);
  if (absl::Status scanned = dir.Scan(); !scanned.ok()) return scanned;
  return dir;
}

absl::StatusOr<std::optional<uint32_t>> DataDir::StoredShardCount(const std::string& path) {
  std::error_code error;
  const bool exists = std::filesystem::exists(path, error);
  if (error) return FileSystemError("cannot read data dir " + path, error);
  if (!exists) return std::nullopt;
  DataDir unlocked(path, -1);
  if (absl::Status scanned = unlocked.Scan(); !scanned.ok()) return scanned;
  return unlocked.stored_shard_count_;
}

std::string DataDir::JournalPath(uint64_t generation) const {
  return fmt::format("{}/{}{}", path_, kJournalPrefix, generation);
}

std::string DataDir::SnapshotPath(uint64_t generation) const {
  return fmt::format("{}/{}{}", path_, kSnapshotPrefix, generation);
}

absl::Status DataDir::Scan() {
  std::error_code error;
  for (std::filesystem::directory_iterator entry(path_, error), end; !error && entry != end; entry.increment(error)) {
    const std::string name = entry->path().filename().string();
    if (const std::optional<uint64_t> generation = GenerationOf(name, kSnapshotPrefix)) {
      if (!has_snapshot_ || *generation > generation_) generation_ = *generation;
      has_snapshot_ = true;
    }
  }
  if (error) return FileSystemError("cannot list data dir " + path_, error);
  // The shard count and format version, from whichever file of the
  // generation exists.
  for (const auto& [file, kind] : {std::pair{SnapshotPath(generation_), FileKind::kSnapshot},
                                   std::pair{JournalPath(generation_), FileKind::kJournal}}) {
    if (!std::filesystem::exists(file, error)) {
      if (error) return FileSystemError("cannot read " + file, error);
      continue;
    }
    if (std::filesystem::file_size(file, error) < kFileHeaderBytes && kind == FileKind::kJournal) continue;  // torn at creation
    std::string head(kFileHeaderBytes, '\0');
    std::ifstream(file, std::ios::binary).read(head.data(), static_cast<std::streamsize>(head.size()));
    absl::StatusOr<RecordFileContents> contents = ParseRecordFile(head, kind);
    if (!contents.ok()) return absl::FailedPreconditionError(fmt::format("{}: {}", file, std::string(contents.status().message())));
    const uint32_t shards = contents->shard_count;
    if (shards == 0 || (shards & (shards - 1)) != 0 || shards > (1u << kMaxShardBits)) {
      return absl::FailedPreconditionError(fmt::format("{}: an impossible shard count {} (damaged header)", file, shards));
    }
    stored_shard_count_ = shards;
    break;
  }
  return absl::OkStatus();
}

namespace {

// Gives a mapped file's pages back as a reader moves on, a few megabytes at
// a time (a call per record would be a system call per record).
class ReleaseBehind {
 public:
  explicit ReleaseBehind(const MappedFile& file) : file_(file) {}
  void operator()(size_t offset) {
    if (offset - released_ < kStep) return;
    file_.Release(offset);
    released_ = offset;
  }

 private:
  static constexpr size_t kStep = 4 << 20;
  const MappedFile& file_;
  size_t released_ = 0;
};

}  // namespace

absl::StatusOr<RestoreReport> DataDir::Restore(Registry& registry, const RestoreOptions& options) {
  RestoreReport report;
  if (stored_shard_count_ && *stored_shard_count_ != registry.shard_count()) {
    return absl::FailedPreconditionError(fmt::format("{} holds leases of {} shards; this registry has {}", path_,
                                                     *stored_shard_count_, registry.shard_count()));
  }
  absl::BitGen random;
  if (has_snapshot_) {
    const std::string path = SnapshotPath(generation_);
    absl::StatusOr<MappedFile> file = MappedFile::Open(path);
    if (!file.ok()) return file.status();
    // Every frame is checked before any is applied, so that a damaged
    // snapshot is refused, not half loaded; then the records are applied.
    // Each pass gives back the pages it is done with.
    absl::StatusOr<RecordReader> check = RecordReader::Open(file->bytes(), FileKind::kSnapshot);
    if (!check.ok()) return absl::FailedPreconditionError(fmt::format("{}: {}", path, std::string(check.status().message())));
    ReleaseBehind release_checked(*file);
    while (check->Next()) release_checked(check->position());
    if (!check->damage().empty()) {
      return absl::FailedPreconditionError(fmt::format(
          "{} is damaged ({}); restore the data dir from a backup, or move it away to start empty", path,
          check->damage()));
    }
    RecordReader reader = *RecordReader::Open(file->bytes(), FileKind::kSnapshot);
    ReleaseBehind release_applied(*file);
    std::optional<uint64_t> end;
    uint64_t records = 0;
    while (std::optional<std::string_view> record = reader.Next()) {
      if (end || !ApplyRecord(registry, *record, options, random, report.counts, &end).ok()) {
        return absl::FailedPreconditionError(fmt::format("{} is damaged: a record after its end or unreadable", path));
      }
      if (!end) ++records;
      release_applied(reader.position());
    }
    if (!end || *end != records) {
      return absl::FailedPreconditionError(fmt::format(
          "{} is damaged (it does not end where its end record says); restore the data dir from a backup, or move "
          "it away to start empty",
          path));
    }
    report.records += records;
  }
  const std::string journal = JournalPath(generation_);
  std::error_code error;
  const bool has_journal = std::filesystem::exists(journal, error);
  if (error) return FileSystemError("cannot read " + journal, error);
  if (has_journal) {
    absl::StatusOr<MappedFile> file = MappedFile::Open(journal);
    if (!file.ok()) return file.status();
    ReleaseBehind release(*file);
    absl::StatusOr<size_t> keep = ReplayJournal(file->bytes(), journal, registry, options, random, report,
                                                [&](size_t offset) { release(offset); });
    if (!keep.ok()) return keep.status();
    if (*keep < file->bytes().size() && truncate(journal.c_str(), static_cast<off_t>(*keep)) != 0) {
      return Errno("cannot cut the damaged tail off " + journal);
    }
  }
  return report;
}

absl::StatusOr<size_t> ReplayJournal(std::string_view bytes, const std::string& name, Registry& registry,
                                     const RestoreOptions& options, absl::BitGen& random, RestoreReport& report,
                                     absl::FunctionRef<void(size_t offset)> release) {
  if (bytes.size() < kFileHeaderBytes) {
    if (!bytes.empty()) report.truncated = fmt::format("{}: a torn header; the file is started again", name);
    return 0;
  }
  absl::StatusOr<RecordReader> reader = RecordReader::Open(bytes, FileKind::kJournal);
  if (!reader.ok()) {
    return absl::FailedPreconditionError(fmt::format("{}: {}", name, std::string(reader.status().message())));
  }
  size_t keep = kFileHeaderBytes;
  std::string damage;
  while (std::optional<std::string_view> record = reader->Next()) {
    std::optional<uint64_t> not_in_a_journal;
    if (!ApplyRecord(registry, *record, options, random, report.counts, &not_in_a_journal).ok() || not_in_a_journal) {
      damage = "a record that does not parse";
      break;
    }
    keep = reader->position();
    ++report.records;
    release(keep);
  }
  if (damage.empty()) damage = reader->damage();
  if (!damage.empty()) report.truncated = fmt::format("{}: {}; {} bytes cut off", name, damage, bytes.size() - keep);
  return keep;
}

void DataDir::RemoveBefore(uint64_t generation) const {
  // Best effort: what is not removed now goes at the next compaction.
  std::error_code error;
  for (std::filesystem::directory_iterator entry(path_, error), end; !error && entry != end; entry.increment(error)) {
    const std::string name = entry->path().filename().string();
    const std::optional<uint64_t> snapshot = GenerationOf(name, kSnapshotPrefix);
    const std::optional<uint64_t> journal = GenerationOf(name, kJournalPrefix);
    const bool unfinished = name.ends_with(".tmp");
    if (unfinished || (snapshot && *snapshot < generation) || (journal && *journal < generation)) {
      std::error_code ignored;
      std::filesystem::remove(entry->path(), ignored);
    }
  }
}

absl::StatusOr<SyncedFile> SyncedFile::Create(const std::string& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create " + path);
  return SyncedFile(path, fd);
}

SyncedFile::~SyncedFile() {
  if (fd_ >= 0) close(fd_);
}

absl::Status SyncedFile::Append(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot write " + path_);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status SyncedFile::Sync() {
  const bool synced = fdatasync(fd_) == 0;
  const absl::Status status = synced ? absl::OkStatus() : Errno("cannot sync " + path_);
  close(fd_);
  fd_ = -1;
  return status;
}

absl::Status SyncDirectory(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open " + path);
  const int synced = fsync(fd);
  close(fd);
  return synced == 0 ? absl::OkStatus() : Errno("cannot sync " + path);
}

}  // namespace registryd
