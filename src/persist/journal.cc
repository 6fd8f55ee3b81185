#include "persist/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/core.h>

#include "metrics/thread_metrics.h"
#include "persist/record_file.h"
#include "persist/stored_records.h"

namespace registryd {
namespace {

// A snapshot is written out in pieces of about this size.
constexpr size_t kSnapshotWriteBytes = 1 << 20;

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(fmt::format("{}: {}", what, std::strerror(errno)));
}

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot write " + path);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

Journal::Journal(Registry& registry, DataDir& dir, const JournalOptions& options)
    : registry_(registry),
      dir_(dir),
      options_(options),
      feed_(registry, "", registry.Revision(), /*coalesce=*/false, /*read_lost_history=*/false),
      generation_(dir.generation()),
      early_round_backlog_(std::max<uint64_t>(1, registry.options().change_log_capacity / 2)) {
  durable_revision_.store(registry.Revision(), std::memory_order_relaxed);
  read_revision_.store(registry.Revision(), std::memory_order_relaxed);
  registry_.add_change_listener(this);
  registry_.KeepChangesAfter(registry.Revision());
  std::error_code error;
  const uint64_t snapshot_size = std::filesystem::file_size(dir.SnapshotPath(generation_), error);
  snapshot_bytes_ = error ? 0 : snapshot_size;
}

Journal::~Journal() {
  if (thread_.joinable()) (void)Stop();
  registry_.KeepChangesAfter(UINT64_MAX);
  registry_.remove_change_listener(this);
  if (journal_fd_ >= 0) close(journal_fd_);
}

// The revisions are registry-wide, so the backlog counted here is at least
// any one shard's: the round starts before any shard keeps changes beyond its
// log's capacity for the journal.
void Journal::OnChanges(uint32_t) {
  if (registry_.Revision() - read_revision_.load(std::memory_order_relaxed) < early_round_backlog_) return;
  if (early_round_.exchange(true, std::memory_order_acq_rel)) return;  // already asked for
  { std::lock_guard<std::mutex> lock(mu_); }  // the thread is waiting or has yet to check early_round_
  wake_.notify_one();
}

absl::Status Journal::Start() {
  if (absl::Status opened = OpenJournal(generation_, /*fresh=*/false); !opened.ok()) return opened;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

absl::Status Journal::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The thread is gone: what is left, then the snapshot a clean start reads.
  (void)Drain();
  const absl::Status snapshot = WriteSnapshot();
  registry_.KeepChangesAfter(UINT64_MAX);  // nothing reads for the journal any more
  ReleaseWaiters(false);
  ReleaseWaiters(true);  // any left could not be written
  return snapshot;
}

void Journal::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    // Under kAlways a waiting call starts the round at once; changes nobody
    // waits for (expiries, say) go with the next round either way.
    wake_.wait_for(lock, options_.batch_interval, [&] {
      // While writing fails, a snapshot is retried once a round, not on every early call.
      return stopping_ || !waiters_.empty() || (!needs_snapshot_ && early_round_.load(std::memory_order_acquire));
    });
    if (stopping_) break;
    early_round_.store(false, std::memory_order_release);  // a change from now on may ask again
    lock.unlock();
    absl::Status status = needs_snapshot_ ? WriteSnapshot() : Drain();
    if (status.ok() && journal_bytes_ > std::max(options_.compact_above_bytes, snapshot_bytes_)) {
      status = WriteSnapshot();
    }
    if (status.ok() == needs_snapshot_) options_.on_health(status);  // it started or stopped failing
    needs_snapshot_ = !status.ok();
    ReleaseWaiters(!status.ok());
    lock.lock();
  }
}

void Journal::WhenDurable(uint64_t revision, absl::AnyInvocable<void(bool) &&> done) {
  if (durable_revision() >= revision) {
    std::move(done)(true);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      waiters_.push_back(Waiter{revision, std::move(done)});
      done = nullptr;
    }
  }
  if (done) {
    std::move(done)(false);
    return;
  }
  wake_.notify_one();
}

void Journal::ReleaseWaiters(bool failed) {
  const uint64_t durable = durable_revision();
  std::vector<Waiter> released;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto ready = std::partition(waiters_.begin(), waiters_.end(),
                                [&](const Waiter& waiter) { return !failed && waiter.revision > durable; });
    std::move(ready, waiters_.end(), std::back_inserter(released));
    waiters_.erase(ready, waiters_.end());
  }
  for (Waiter& waiter : released) std::move(waiter.done)(!failed);
}

absl::Status Journal::Drain() {
  while (std::optional<WatchBatch> batch = feed_.Next()) {
    // Fell out of the change logs (they kept more than they may for it):
    // what was missed is only in the registry.
    const absl::Status written = batch->snapshot ? WriteSnapshot() : Append(*batch);
    MarkRead();
    if (!written.ok()) return written;
  }
  return SyncJournal();
}

void Journal::MarkRead() {
  read_revision_.store(feed_.revision(), std::memory_order_relaxed);
  registry_.KeepChangesAfter(feed_.revision());  // what it read need not be kept for it
}

absl::Status Journal::Append(const WatchBatch& batch) {
  if (batch.changes.empty()) return absl::OkStatus();
  std::string frames;
  for (const Change& change : batch.changes) AppendChangeFrame(frames, change);
  if (absl::Status written = WriteAll(journal_fd_, frames, dir_.JournalPath(generation_)); !written.ok()) {
    return written;
  }
  journal_bytes_ += frames.size();
  metrics::Local().journal_bytes.Add(frames.size());
  unsynced_ = true;
  return absl::OkStatus();
}

absl::Status Journal::SyncJournal() {
  const uint64_t revision = feed_.revision();
  if (unsynced_) {
    const auto started = std::chrono::steady_clock::now();
    if (fdatasync(journal_fd_) != 0) return Errno("cannot sync " + dir_.JournalPath(generation_));
    metrics::ObserveSince(metrics::Local().journal_fsync, started);
    unsynced_ = false;
  }
  durable_revision_.store(revision, std::memory_order_release);
  return absl::OkStatus();
}

// A fuzzy snapshot: each slice of each shard is read at its own moment,
// after the revision R is taken. The journal after it replays every change after R;
// records are keyed upserts and removals by lease, so one the snapshot
// already reflects changes nothing when replayed.
absl::Status Journal::WriteSnapshot() {
  const auto started = std::chrono::steady_clock::now();
  const uint64_t next = generation_ + 1;
  const uint64_t revision = registry_.Revision();
  const std::string path = dir_.SnapshotPath(next);
  absl::StatusOr<SyncedFile> file = SyncedFile::Create(path + ".tmp");
  if (!file.ok()) return file.status();
  // Written a few slices at a time, never under a shard's lock, and never
  // whole in memory (10 million instances make some 600 MB).
  std::string bytes = FileHeader(FileKind::kSnapshot, registry_.shard_count());
  uint64_t size = 0;
  uint64_t records = 0;
  absl::Status written = absl::OkStatus();
  const auto write_out = [&] {
    if (written.ok()) written = file->Append(bytes);
    size += bytes.size();
    bytes.clear();
  };
  registry_.VisitAll(
      [&](std::string_view service, const InstanceRecord& instance) {
        records += AppendInstanceFrames(bytes, service, instance);
      },
      [&] {
        if (bytes.size() >= kSnapshotWriteBytes) write_out();
        return written.ok();
      });
  AppendSnapshotEndFrame(bytes, records);
  write_out();
  if (!written.ok()) return written;
  if (absl::Status synced = file->Sync(); !synced.ok()) return synced;
  if (std::rename((path + ".tmp").c_str(), path.c_str()) != 0) return Errno("cannot rename " + path + ".tmp");
  if (absl::Status synced = SyncDirectory(dir_.path()); !synced.ok()) return synced;
  // From here on the new snapshot is the state; its journal starts empty.
  if (absl::Status opened = OpenJournal(next, /*fresh=*/true); !opened.ok()) return opened;
  generation_ = next;
  snapshot_bytes_ = size;
  dir_.RemoveBefore(next);
  if (revision > feed_.revision()) feed_.SkipTo(revision);
  MarkRead();
  durable_revision_.store(feed_.revision(), std::memory_order_release);
  snapshots_written_.fetch_add(1, std::memory_order_relaxed);
  last_snapshot_bytes_.store(size, std::memory_order_relaxed);
  last_snapshot_nanos_.store((std::chrono::steady_clock::now() - started) / std::chrono::nanoseconds(1),
                             std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status Journal::OpenJournal(uint64_t generation, bool fresh) {
  const std::string path = dir_.JournalPath(generation);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (fresh ? O_TRUNC : 0), 0644);
  if (fd < 0) return Errno("cannot open " + path);
  struct stat status {};
  if (fstat(fd, &status) != 0) {
    close(fd);
    return Errno("cannot stat " + path);
  }
  uint64_t size = static_cast<uint64_t>(status.st_size);
  if (size < kFileHeaderBytes) {  // new, or torn while it was created
    if (ftruncate(fd, 0) != 0 || !WriteAll(fd, FileHeader(FileKind::kJournal, registry_.shard_count()), path).ok() ||
        fdatasync(fd) != 0 || !SyncDirectory(dir_.path()).ok()) {
      close(fd);
      return Errno("cannot start " + path);
    }
    size = kFileHeaderBytes;
  }
  if (journal_fd_ >= 0) close(journal_fd_);
  journal_fd_ = fd;
  journal_bytes_ = size;
  return absl::OkStatus();
}

}  // namespace registryd
