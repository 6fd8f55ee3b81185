// Registrations survive a restart: a registry journaled into a data dir, and
// a second registry restored from the files as a crash or a clean stop left
// them. Both registries run on fake clocks; the journal's own thread is
// waited for by condition (its durable revision), never by time.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "core/read_file.h"
#include "persist/data_dir.h"
#include "persist/journal.h"
#include "persist/record_file.h"
#include "persist/stored_records.h"
#include "test_specs.h"

namespace registryd {
namespace {

namespace fs = std::filesystem;
using test::NativeSpec;
using test::ExpireDue;
using test::SeedSpec;

constexpr Duration kTtl = std::chrono::seconds(30);
constexpr Duration kSpread = std::chrono::seconds(5);

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "registryd-journal-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The data dir's files as they are on disk at this moment, as a crash would
// leave them (the LOCK aside).
void CopyFiles(const std::string& from, const std::string& to) {
  for (const auto& entry : fs::directory_iterator(from)) {
    std::error_code vanished;  // removed by a compaction meanwhile, as if before the crash
    if (entry.path().filename() != "LOCK") fs::copy_file(entry.path(), fs::path(to) / entry.path().filename(), vanished);
  }
}

bool WaitUntil(const std::function<bool()>& condition) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

RegistryOptions Options() {
  RegistryOptions options;
  options.shard_count = 16;
  options.first_revision = 1'000'000;  // as registryd's, never 0
  return options;
}

// A registry restored from `dir` on a clock of its own.
struct Restored {
  explicit Restored(const std::string& dir, RegistryOptions options = Options()) : registry(options, clock) {
    absl::StatusOr<DataDir> opened = DataDir::Open(dir);
    EXPECT_TRUE(opened.ok()) << opened.status();
    absl::StatusOr<RestoreReport> restored = opened->Restore(registry, RestoreOptions{kSpread});
    EXPECT_TRUE(restored.ok()) << restored.status();
    if (restored.ok()) report = *restored;
  }

  std::map<std::string, std::string> Instances(const std::string& service) {
    std::map<std::string, std::string> found;
    registry.Discover(service, false, [&](const InstanceRecord& record) {
      found[std::string(record.instance_id())] = record.Address();
    });
    return found;
  }

  ManualClock clock;
  Registry registry;
  RestoreReport report;
};

class JournalTest : public ::testing::Test {
 protected:
  explicit JournalTest(const RegistryOptions& options = Options()) : registry_(options, clock_) {}

  void StartJournal(JournalOptions options = {}) {
    MakeJournal(options);
    ASSERT_TRUE(journal_->Start().ok());
  }
  // The journal, its thread not started yet: changes wait for it.
  void MakeJournal(JournalOptions options = {}) {
    if (options.batch_interval == JournalOptions{}.batch_interval) options.batch_interval = std::chrono::milliseconds(1);
    absl::StatusOr<DataDir> opened = DataDir::Open(dir_.path());
    ASSERT_TRUE(opened.ok()) << opened.status();
    data_dir_.emplace(*std::move(opened));
    journal_.emplace(registry_, *data_dir_, options);
  }

  // Every change so far is synced.
  void WaitDurable() {
    ASSERT_TRUE(WaitUntil([&] { return journal_->durable_revision() >= registry_.Revision(); }));
  }

  LeaseId Register(const RegisterSpec& spec) {
    const absl::StatusOr<RegisterResult> result = registry_.Register(spec);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->lease : kNoLease;
  }

  // The files as a crash now would leave them.
  std::string Crash() {
    WaitDurable();
    const std::string copy = crash_copy_.path() + "/" + std::to_string(crashes_++);
    fs::create_directory(copy);
    CopyFiles(dir_.path(), copy);
    return copy;
  }

  TempDir dir_;
  TempDir crash_copy_;
  int crashes_ = 0;
  ManualClock clock_;
  Registry registry_;
  std::optional<DataDir> data_dir_;
  std::optional<Journal> journal_;
};

TEST_F(JournalTest, EveryKindOfChangeSurvivesACrash) {
  StartJournal();
  RegisterSpec with_metadata = NativeSpec("orders", "o-1", kTtl);
  with_metadata.metadata = {{"zone", "eu-1"}, {"version", "7"}};
  const LeaseId kept = Register(with_metadata);
  const LeaseId removed = Register(NativeSpec("orders", "o-2", kTtl));
  const LeaseId updated = Register(NativeSpec("orders", "o-3", kTtl, 8080));
  Register(NativeSpec("orders", "o-3", kTtl, 9090));  // same instance, new port
  const LeaseId ejected = Register(SeedSpec(42, "Bazar"));
  Register(SeedSpec(43, "Bazar"));
  ASSERT_TRUE(registry_.Deregister(removed).ok());
  ASSERT_TRUE(registry_.Eject(ejected));

  Restored after(Crash());
  EXPECT_EQ(after.report.truncated, "");
  EXPECT_EQ(after.Instances("orders"),
            (std::map<std::string, std::string>{{"o-1", "10.0.0.1:8080"}, {"o-3", "10.0.0.1:9090"}}));
  EXPECT_EQ(after.Instances("Bazar"), (std::map<std::string, std::string>{{"43", "10.0.1.43:7000"}}));
  // Lease ids and seed ids still work; the ejected server comes back with its heartbeat.
  EXPECT_TRUE(after.registry.Heartbeat(kept, false).ok());
  EXPECT_TRUE(after.registry.Heartbeat(updated, false).ok());
  EXPECT_FALSE(after.registry.Heartbeat(removed, false).ok());
  EXPECT_TRUE(after.registry.SeedHeartbeat(42, false).ok());
  EXPECT_EQ(after.Instances("Bazar").size(), 2u);
  int found_metadata = 0;
  after.registry.Discover("orders", false, [&](const InstanceRecord& record) {
    if (record.instance_id() == "o-1") {
      EXPECT_EQ(record.metadata(), (Metadata{{"zone", "eu-1"}, {"version", "7"}}));
      ++found_metadata;
    }
  });
  EXPECT_EQ(found_metadata, 1);
}

TEST_F(JournalTest, RestoredLeasesGetAFreshTtlSpreadOverTheRestoreSpread) {
  StartJournal();
  for (int i = 0; i < 200; ++i) Register(NativeSpec("spread", "s-" + std::to_string(i), kTtl));
  clock_.Advance(kTtl - std::chrono::seconds(1));  // nearly expired when the crash comes
  Restored after(Crash());
  ASSERT_EQ(after.Instances("spread").size(), 200u);
  after.clock.Advance(kTtl - std::chrono::milliseconds(1));
  ExpireDue(after.registry);
  EXPECT_EQ(after.Instances("spread").size(), 200u) << "none expires before a whole fresh TTL";
  after.clock.Advance(kSpread / 2);
  ExpireDue(after.registry);
  const size_t halfway = after.Instances("spread").size();
  EXPECT_GT(halfway, 0u) << "not all expire at once";
  EXPECT_LT(halfway, 200u) << "deadlines are spread";
  after.clock.Advance(kSpread / 2 + std::chrono::seconds(1));
  ExpireDue(after.registry);
  EXPECT_EQ(after.Instances("spread").size(), 0u);
}

TEST_F(JournalTest, ATornJournalTailIsCutOffWithEveryWholeRecordKept) {
  StartJournal();
  for (int i = 0; i < 5; ++i) Register(NativeSpec("torn", "t-" + std::to_string(i), kTtl));
  const std::string copy = Crash();
  const std::string journal = copy + "/journal-0";
  const uintmax_t whole = fs::file_size(journal);
  {
    std::ofstream append(journal, std::ios::binary | std::ios::app);
    append << std::string("\x30\0\0\0\x01\x02", 6);  // a record header and no record: power lost mid-write
  }
  Restored after(copy);
  EXPECT_EQ(after.Instances("torn").size(), 5u);
  EXPECT_NE(after.report.truncated.find("6 bytes cut off"), std::string::npos) << after.report.truncated;
  EXPECT_EQ(fs::file_size(journal), whole);
}

// A registry whose shards keep only 64 changes each.
class ShortLogJournalTest : public JournalTest {
 protected:
  static RegistryOptions ShortLog() {
    RegistryOptions options = Options();
    options.change_log_capacity = 64;
    return options;
  }
  ShortLogJournalTest() : JournalTest(ShortLog()) {}
};

// A busy service sends every change to one shard's log. The journal starts a
// round as soon as it is half a log (32 changes) behind, without waiting for
// its batch interval (an hour here), so it never falls out of the log and
// never has to write a whole snapshot to catch up.
TEST_F(ShortLogJournalTest, ABusyShardIsJournaledChangeByChangeWithoutCatchUpSnapshots) {
  JournalOptions options;
  options.batch_interval = std::chrono::hours(1);
  StartJournal(options);
  int registered = 0;
  for (int round = 0; round < 30; ++round) {  // 960 changes: 15 logs' worth
    for (int i = 0; i < 32; ++i) Register(NativeSpec("busy", "b-" + std::to_string(registered++), kTtl));
    WaitDurable();
  }
  EXPECT_EQ(journal_->snapshots_written(), 0u);
  Restored after(Crash());
  EXPECT_EQ(after.Instances("busy").size(), 960u);
}

// A burst of changes to one shard far beyond its log, while the journal's
// thread does not run at all: the shard keeps what the journal has not read,
// and the journal writes every change, with no catch-up snapshot; then the
// shard gives that memory back.
TEST_F(ShortLogJournalTest, ABurstTheJournalDidNotReadYetIsKeptForIt) {
  MakeJournal();
  for (int i = 0; i < 5000; ++i) Register(NativeSpec("busy", "b-" + std::to_string(i), kTtl));
  EXPECT_EQ(registry_.retained_changes(), 5000u - 64);
  ASSERT_TRUE(journal_->Start().ok());
  WaitDurable();
  EXPECT_EQ(journal_->snapshots_written(), 0u);
  EXPECT_EQ(registry_.retained_changes(), 0u);
  Restored after(Crash());
  EXPECT_EQ(after.Instances("busy").size(), 5000u);
}

// Beyond max_retained_changes the shards drop what the journal has not read:
// it then writes a snapshot to catch up, and nothing is lost either.
class CappedRetentionJournalTest : public JournalTest {
 protected:
  static RegistryOptions Capped() {
    RegistryOptions options = Options();
    options.change_log_capacity = 64;
    options.max_retained_changes = 1000;
    return options;
  }
  CappedRetentionJournalTest() : JournalTest(Capped()) {}
};

TEST_F(CappedRetentionJournalTest, ABurstBeyondTheCapCostsASnapshotAndLosesNothing) {
  MakeJournal();
  for (int i = 0; i < 5000; ++i) Register(NativeSpec("busy", "b-" + std::to_string(i), kTtl));
  EXPECT_LE(registry_.retained_changes(), 1000u);
  ASSERT_TRUE(journal_->Start().ok());
  WaitDurable();
  EXPECT_GE(journal_->snapshots_written(), 1u);
  Restored after(Crash());
  EXPECT_EQ(after.Instances("busy").size(), 5000u);
}

TEST_F(JournalTest, CompactionKeepsTheStateAndRemovesOldFiles) {
  JournalOptions options;
  options.compact_above_bytes = 2000;  // a snapshot every few dozen records
  StartJournal(options);
  std::vector<LeaseId> leases;
  for (int i = 0; i < 300; ++i) leases.push_back(Register(NativeSpec("compact", "c-" + std::to_string(i), kTtl)));
  for (int i = 0; i < 300; i += 3) ASSERT_TRUE(registry_.Deregister(leases[i]).ok());
  ASSERT_TRUE(WaitUntil([&] { return journal_->snapshots_written() > 0; }));
  Register(NativeSpec("compact", "after-the-snapshot", kTtl));
  WaitDurable();
  // A compaction may still be under way (its new snapshot written, the old
  // files not yet removed): with no more writes, the old files go.
  const auto files_in = [](const std::string& dir) {
    return std::count_if(fs::directory_iterator(dir), fs::directory_iterator(),
                         [](const fs::directory_entry& entry) { return entry.path().filename() != "LOCK"; });
  };
  EXPECT_TRUE(WaitUntil([&] { return files_in(dir_.path()) <= 2; })) << "one snapshot and its journal";
  const std::string copy = Crash();
  for (const auto& entry : fs::directory_iterator(copy)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos);
  }
  EXPECT_LE(files_in(copy), 2) << "one snapshot and its journal";
  Restored after(copy);
  EXPECT_EQ(after.Instances("compact").size(), 201u);
  EXPECT_FALSE(after.registry.Heartbeat(leases[0], false).ok());
  EXPECT_TRUE(after.registry.Heartbeat(leases[1], false).ok());
}

// A snapshot is written out a megabyte at a time as the shards are read:
// one of several megabytes (40 000 instances, every shard several slices
// deep) comes back whole.
TEST_F(JournalTest, ASnapshotOfManyPiecesComesBackWhole) {
  StartJournal();
  constexpr int kInstances = 40'000;
  for (int i = 0; i < kInstances; ++i) {
    Register(NativeSpec("many-" + std::to_string(i % 64), "m-" + std::to_string(i), kTtl));
  }
  ASSERT_TRUE(journal_->Stop().ok());
  journal_.reset();
  data_dir_.reset();  // releases the lock
  uintmax_t snapshot_bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    if (entry.path().filename().string().starts_with("snapshot-")) snapshot_bytes = fs::file_size(entry.path());
  }
  EXPECT_GT(snapshot_bytes, 2u << 20) << "more than one piece";
  Restored after(dir_.path());
  size_t restored = 0;
  for (int service = 0; service < 64; ++service) restored += after.Instances("many-" + std::to_string(service)).size();
  EXPECT_EQ(restored, static_cast<size_t>(kInstances));
  EXPECT_EQ(after.report.counts.refused, 0u);
}

TEST_F(JournalTest, ACleanStopLeavesASnapshotAndAnEmptyJournal) {
  StartJournal();
  Register(NativeSpec("clean", "c-1", kTtl));
  const LeaseId ejected = Register(SeedSpec(7, "clean"));
  ASSERT_TRUE(registry_.Eject(ejected));
  ASSERT_TRUE(journal_->Stop().ok());
  journal_.reset();
  data_dir_.reset();  // releases the lock
  Restored after(dir_.path());
  EXPECT_EQ(after.Instances("clean"), (std::map<std::string, std::string>{{"c-1", "10.0.0.1:8080"}}));
  EXPECT_EQ(after.report.counts.ejected, 1u) << "an ejection in the snapshot stays an ejection";
  EXPECT_TRUE(after.registry.SeedHeartbeat(7, false).ok());
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    if (entry.path().filename().string().starts_with("journal-")) {
      EXPECT_EQ(fs::file_size(entry.path()), kFileHeaderBytes);
    }
  }
}

TEST_F(JournalTest, ALockedDirIsRefused) {
  StartJournal();
  const absl::StatusOr<DataDir> second = DataDir::Open(dir_.path());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by another registryd"), std::string::npos) << second.status();
}

TEST(DataDirTest, AnUnreadablePathIsAnErrorNamingItNotAnException) {
  // A name longer than any file system allows: the kernel refuses it
  // (ENAMETOOLONG) as it refuses a dir the process may not read (EACCES),
  // which root, as tests often run, never sees.
  const std::string unreadable = ::testing::TempDir() + std::string(5000, 'x');
  const absl::StatusOr<std::optional<uint32_t>> shards = DataDir::StoredShardCount(unreadable);
  EXPECT_EQ(shards.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(shards.status().message().find("cannot read data dir"), std::string::npos) << shards.status();
  EXPECT_FALSE(DataDir::Open(unreadable).ok());
}

TEST_F(JournalTest, AnotherShardCountOrANewerFormatIsRefused) {
  StartJournal();
  Register(NativeSpec("shards", "s-1", kTtl));
  const std::string copy = Crash();
  {
    RegistryOptions other = Options();
    other.shard_count = 32;
    ManualClock clock;
    Registry registry(other, clock);
    absl::StatusOr<DataDir> opened = DataDir::Open(copy);
    ASSERT_TRUE(opened.ok());
    EXPECT_EQ(opened->stored_shard_count(), 16u);
    const absl::StatusOr<RestoreReport> restored = opened->Restore(registry, {});
    EXPECT_EQ(restored.status().code(), absl::StatusCode::kFailedPrecondition);
  }
  std::fstream journal(copy + "/journal-0", std::ios::binary | std::ios::in | std::ios::out);
  journal.seekp(8);
  journal.put(static_cast<char>(kFormatVersion + 1));
  journal.close();
  const absl::StatusOr<DataDir> newer = DataDir::Open(copy);
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(newer.status().message().find("newer registryd"), std::string::npos) << newer.status();
}

TEST_F(JournalTest, ADamagedSnapshotIsRefusedNotHalfLoaded) {
  StartJournal();
  for (int i = 0; i < 10; ++i) Register(NativeSpec("damaged", "d-" + std::to_string(i), kTtl));
  ASSERT_TRUE(journal_->Stop().ok());
  journal_.reset();
  data_dir_.reset();
  std::string snapshot;
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    if (entry.path().filename().string().starts_with("snapshot-")) snapshot = entry.path().string();
  }
  ASSERT_NE(snapshot, "");
  fs::resize_file(snapshot, fs::file_size(snapshot) - 20);
  ManualClock clock;
  Registry registry(Options(), clock);
  absl::StatusOr<DataDir> opened = DataDir::Open(dir_.path());
  ASSERT_TRUE(opened.ok());
  const absl::StatusOr<RestoreReport> restored = opened->Restore(registry, {});
  EXPECT_EQ(restored.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(restored.status().message().find("damaged"), std::string::npos) << restored.status();
}


// A journal that fell behind gets an instance's changes coalesced to its
// latest state: removed under one lease and registered again under another
// becomes one put of the new lease. Replayed over a restored instance of the
// old lease, the new one must win.
TEST_F(JournalTest, ALaterLeaseOfTheSameInstanceReplacesTheRestoredOne) {
  StartJournal();
  const LeaseId first = Register(NativeSpec("moved", "m-1", kTtl));
  Register(SeedSpec(9, "moved"));
  const std::string before = Crash();
  ASSERT_TRUE(registry_.Deregister(first).ok());
  const LeaseId second = Register(NativeSpec("moved", "m-1", kTtl, 9090));
  ASSERT_NE(first, second);
  const std::string after = Crash();

  // The old state restored, then the coalesced put of the new lease applied.
  Restored restored(before);
  absl::BitGen random;
  RestoreCounts counts;
  std::optional<uint64_t> end;
  std::string journal;
  {
    absl::StatusOr<std::string> bytes = ReadFile(after + "/journal-0");
    ASSERT_TRUE(bytes.ok());
    journal = *bytes;
  }
  const absl::StatusOr<RecordFileContents> records = ParseRecordFile(journal, FileKind::kJournal);
  ASSERT_TRUE(records.ok());
  // The last record is the put of the second lease: apply it alone, as a coalesced journal holds it.
  ASSERT_TRUE(ApplyRecord(restored.registry, records->records.back(), RestoreOptions{}, random, counts, &end).ok());
  EXPECT_TRUE(restored.registry.Heartbeat(second, false).ok());
  EXPECT_FALSE(restored.registry.Heartbeat(first, false).ok());
  EXPECT_EQ(restored.Instances("moved"),
            (std::map<std::string, std::string>{{"m-1", "10.0.0.1:9090"}, {"9", "10.0.1.9:7000"}}));
  EXPECT_TRUE(restored.registry.SeedHeartbeat(9, false).ok());
}

TEST_F(JournalTest, AnEjectedInstanceThatIsDeregisteredStaysGone) {
  StartJournal();
  const LeaseId ejected = Register(SeedSpec(5, "ghosts"));
  Register(NativeSpec("ghosts", "g-1", kTtl));
  ASSERT_TRUE(registry_.Eject(ejected));
  ASSERT_TRUE(registry_.Deregister(ejected).ok());
  Restored after(Crash());
  EXPECT_FALSE(after.registry.SeedHeartbeat(5, false).ok()) << "the removal of an ejected instance is journaled";
  EXPECT_EQ(after.Instances("ghosts").size(), 1u);
}

// More changes in one round than a watcher gets one by one: the journal
// still writes each of them, in order (a removal names a lease, so folding
// an instance's changes into its last one would lose the first lease's end).
TEST_F(JournalTest, AJournalBehindByManyChangesWritesEveryOne) {
  JournalOptions options;
  options.batch_interval = std::chrono::seconds(2);  // every change below in one round
  StartJournal(options);
  const LeaseId first = Register(NativeSpec("busy", "x", kTtl));
  WaitDurable();  // x under its first lease is in the journal; the rest comes in one round
  for (int i = 0; i < 300; ++i) Register(NativeSpec("busy", "filler-" + std::to_string(i), kTtl));
  ASSERT_TRUE(registry_.Deregister(first).ok());
  const LeaseId second = Register(NativeSpec("busy", "x", kTtl));
  ASSERT_TRUE(registry_.Deregister(second).ok());
  Restored after(Crash());
  EXPECT_FALSE(after.registry.Heartbeat(first, false).ok());
  EXPECT_EQ(after.Instances("busy").count("x"), 0u);
  EXPECT_EQ(after.Instances("busy").size(), 300u);
}

}  // namespace
}  // namespace registryd
