#include "flags/persistence_flags.h"

#include "persist/data_dir.h"

namespace registryd::flags {

void PersistenceFlags::AddTo(CLI::App& app) {
  CLI::App& group = *app.add_option_group("Persistence", "Registrations kept across restarts, in a journal and snapshots");
  group.add_option("--data-dir", data_dir,
                   "Where registrations are kept across restarts (created if missing); empty: memory only")
      ->capture_default_str();
  AddDuration(group, "--restore-spread", restore_spread,
              "Restored leases get a fresh TTL plus a random delay up to this, so they do not expire together",
              Duration::zero());
  group.add_option("--fsync", fsync,
                   "batch: sync the journal every --fsync-interval (group commit; a crash loses at most the last "
                   "interval's changes); always: answer Register/Deregister only once their change is synced")
      ->capture_default_str()
      ->check(CLI::IsMember({"batch", "always"}));
  AddDuration(group, "--fsync-interval", fsync_interval,
              "Group commit: the journal is written and synced this often; a crash loses at most the changes of "
              "the last interval",
              std::chrono::milliseconds(1), std::chrono::seconds(1));
}

void PersistenceFlags::ApplyTo(ServerOptions& options) const {
  options.persistence.data_dir = data_dir;
  options.persistence.restore_spread = restore_spread.value;
  options.persistence.journal.batch_interval = fsync_interval.value;
  options.persistence.journal.fsync = fsync == "always" ? FsyncPolicy::kAlways : FsyncPolicy::kBatch;
}

absl::Status PersistenceFlags::KeepStoredShardCount(ServerOptions& options) {
  if (options.persistence.data_dir.empty()) return absl::OkStatus();
  absl::StatusOr<std::optional<uint32_t>> stored = DataDir::StoredShardCount(options.persistence.data_dir);
  if (!stored.ok()) return stored.status();
  if (*stored) options.registry.shard_count = **stored;
  return absl::OkStatus();
}

}  // namespace registryd::flags
