// registryd's data dir: where registrations outlive a restart.
//
//   LOCK                  held (flock) while a registryd uses the dir
//   snapshot-<N>          every registration at one point, complete (written
//                         as snapshot-<N>.tmp, synced, then renamed)
//   journal-<N>           every change after snapshot-<N> (or from empty,
//                         without it), appended
//
// The newest snapshot and its journal are the state; older files are
// deleted once a newer snapshot is in place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "core/registry.h"
#include "persist/stored_records.h"

namespace registryd {

struct RestoreReport {
  RestoreCounts counts;
  uint64_t records = 0;
  // Set when the journal ended in a torn or corrupt record: what was wrong
  // and how many bytes were cut off.
  std::string truncated;
};

class DataDir {
 public:
  DataDir(DataDir&& other) noexcept;
  DataDir& operator=(DataDir&&) = delete;
  ~DataDir();

  // Creates the dir if needed and locks it: FailedPrecondition when another
  // registryd holds it, or it holds files of a newer format.
  static absl::StatusOr<DataDir> Open(const std::string& path);
  // The stored shard count of `path` (nothing when it holds no registry),
  // read without taking the lock: to size the registry before Open.
  static absl::StatusOr<std::optional<uint32_t>> StoredShardCount(const std::string& path);

  const std::string& path() const { return path_; }
  // The shard count the stored leases were made for (their ids carry their
  // shard); nothing for an empty dir.
  std::optional<uint32_t> stored_shard_count() const { return stored_shard_count_; }

  // Loads the newest snapshot and its journal into `registry` (which must
  // have the stored shard count), cutting a damaged journal tail off the
  // file. FailedPrecondition for a damaged snapshot.
  absl::StatusOr<RestoreReport> Restore(Registry& registry, const RestoreOptions& options);

  // The files the journal writes: journal-<generation>, snapshot-<generation>.
  uint64_t generation() const { return generation_; }
  std::string JournalPath(uint64_t generation) const;
  std::string SnapshotPath(uint64_t generation) const;
  // Removes the files of generations before `generation` and leftovers of
  // unfinished snapshots.
  void RemoveBefore(uint64_t generation) const;

 private:
  DataDir(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}
  absl::Status Scan();

  std::string path_;
  int lock_fd_ = -1;
  uint64_t generation_ = 0;  // of the newest snapshot (0: none yet)
  bool has_snapshot_ = false;
  std::optional<uint32_t> stored_shard_count_;
};

// Applies the records of a journal file's bytes to `registry`, up to any
// damage (recorded in report.truncated, prefixed with `name`). Returns how
// many leading bytes are whole records: the length to cut the file back to.
// FailedPrecondition for a file that is not a journal of a format this
// registryd reads.
// `release(offset)` is told, now and then, that the bytes before `offset`
// will not be read again (a mapped file gives their pages back).
absl::StatusOr<size_t> ReplayJournal(std::string_view bytes, const std::string& name, Registry& registry,
                                     const RestoreOptions& options, absl::BitGen& random, RestoreReport& report,
                                     absl::FunctionRef<void(size_t offset)> release = [](size_t) {});

// A new file written piece by piece as its bytes are made (a snapshot of
// millions of instances is never whole in memory), then synced.
class SyncedFile {
 public:
  // Creates (or truncates) `path`.
  static absl::StatusOr<SyncedFile> Create(const std::string& path);
  SyncedFile(SyncedFile&& other) noexcept : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}
  SyncedFile& operator=(SyncedFile&&) = delete;
  ~SyncedFile();

  absl::Status Append(std::string_view bytes);
  // Syncs and closes the file: its bytes are durable once this is OK.
  absl::Status Sync();

 private:
  SyncedFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

// Syncs a directory, so that a rename or creation in it is durable.
absl::Status SyncDirectory(const std::string& path);

}  // namespace registryd
