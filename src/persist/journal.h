// Keeps the data dir up to date with the registry, on a thread of its own.
//
// The journal reads the registry's changes the way a Watch stream does (a
// WatchFeed over every service), so the register path never waits for the
// disk: it pays for one change-log entry, as it does for watchers. Every
// batch interval the thread appends the changes since its last write to the
// journal and syncs the file once for all of them (group commit). A change
// acknowledged to its client is durable once the sync after it completed:
// a crash loses at most the changes of the last interval (plus the time of a
// sync). Heartbeats are not changes and are never written.
//
// The shards keep every change the journal has not read, beyond their logs'
// capacity (Registry::KeepChangesAfter, up to max_retained_changes in all),
// so a burst of changes (a mass expiry, millions of registrations) costs the
// journal its records, never a snapshot. It listens to the registry's changes
// and starts a round early once the changes it has not read reach half a
// log, so that little is kept for it in the common case.
//
// When the journal outgrows the last snapshot (and a floor), the thread
// writes a new snapshot of the whole registry and starts a new journal; it
// does the same, instead of appending, when it fell so far behind that the
// shards dropped changes it had not read (more than they may keep). Stop()
// writes what is left and a snapshot, so a clean restart reads no journal.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "core/registry.h"
#include "core/watch_feed.h"
#include "persist/data_dir.h"

namespace registryd {

enum class FsyncPolicy {
  // Group commit every batch interval; acknowledged changes of the last
  // interval can be lost in a crash.
  kBatch,
  // Calls that change the registry are answered once their change is synced
  // (WhenDurable); many calls still share one sync.
  kAlways,
};

struct JournalOptions {
  FsyncPolicy fsync = FsyncPolicy::kBatch;
  Duration batch_interval = std::chrono::milliseconds(10);
  // A new snapshot once the journal is larger than the last snapshot and than this.
  uint64_t compact_above_bytes = 64 << 20;
  // Told when writing starts failing (the error; the journal then retries
  // with a full snapshot every round) and when it works again (OK).
  std::function<void(const absl::Status&)> on_health = [](const absl::Status&) {};
};

class Journal final : public ChangeListener {
 public:
  // Journals the changes after the registry's current revision into the
  // data dir's current generation (after DataDir::Restore). Constructed and
  // destroyed while no other thread uses the registry: it adds itself to
  // the registry's change listeners.
  Journal(Registry& registry, DataDir& dir, const JournalOptions& options);
  ~Journal() override;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Opens the journal file and starts the thread.
  absl::Status Start();
  // Writes the changes not yet written and a snapshot, then stops the
  // thread. For a clean shutdown, once the registry no longer changes.
  absl::Status Stop();

  // Every change up to this revision is synced to disk.
  uint64_t durable_revision() const { return durable_revision_.load(std::memory_order_acquire); }
  // Calls `done(true)` once every change up to `revision` is synced (at
  // once if it is), or `done(false)` when writing failed or the journal
  // stopped first. On the journal's thread, or the caller's.
  void WhenDurable(uint64_t revision, absl::AnyInvocable<void(bool durable) &&> done);
  // Snapshots written since Start (compactions, catch-ups, the final one).
  uint64_t snapshots_written() const { return snapshots_written_.load(std::memory_order_relaxed); }
  // The last snapshot's size, and how long writing it took (0 before the first).
  uint64_t last_snapshot_bytes() const { return last_snapshot_bytes_.load(std::memory_order_relaxed); }
  std::chrono::nanoseconds last_snapshot_duration() const {
    return std::chrono::nanoseconds(last_snapshot_nanos_.load(std::memory_order_relaxed));
  }

  // Any thread, after every change: wakes the thread early when it is
  // half a change log behind.
  void OnChanges(uint32_t shard) override;

 private:
  void Run();
  // Writes every batch the feed has; false when a write failed (the next
  // round writes a snapshot instead).
  absl::Status Drain();
  absl::Status Append(const WatchBatch& batch);
  // The feed read up to its revision: the registry keeps only later changes for it.
  void MarkRead();
  // Writes every instance as the next generation's snapshot and starts that
  // generation's journal.
  absl::Status WriteSnapshot();
  // `fresh`: a new generation's journal, started empty (a file of that name
  // left by an earlier life of the dir is stale).
  absl::Status OpenJournal(uint64_t generation, bool fresh);
  absl::Status SyncJournal();

  Registry& registry_;
  DataDir& dir_;
  const JournalOptions options_;
  WatchFeed feed_;  // every service, from the registry's revision at construction
  uint64_t generation_;
  int journal_fd_ = -1;
  uint64_t journal_bytes_ = 0;
  uint64_t snapshot_bytes_ = 0;
  bool unsynced_ = false;
  bool needs_snapshot_ = false;  // a write failed: what the journal holds is incomplete
  std::atomic<uint64_t> durable_revision_{0};
  std::atomic<uint64_t> read_revision_{0};  // the feed's, for OnChanges
  const uint64_t early_round_backlog_;       // changes not read that start a round early
  std::atomic<bool> early_round_{false};
  std::atomic<uint64_t> snapshots_written_{0};
  std::atomic<uint64_t> last_snapshot_bytes_{0};
  std::atomic<int64_t> last_snapshot_nanos_{0};

  // Releases the waiters up to the durable revision, or all of them (as
  // not durable) when `failed`.
  void ReleaseWaiters(bool failed);

  struct Waiter {
    uint64_t revision;
    absl::AnyInvocable<void(bool) &&> done;
  };

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;        // guarded by mu_
  std::vector<Waiter> waiters_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace registryd
