#include "core/watch_feed.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace registryd {
namespace {

std::string ChangedInstanceKey(const Change& change) {
  std::string key = change.service;
  key.push_back('\0');  // not in service names
  key.append(change.instance->instance_id());
  return key;
}

}  // namespace

std::vector<Change> CoalesceChanges(std::vector<Change> changes) {
  struct Fold {
    ChangeKind first_kind;
    size_t last;  // index of the latest change
  };
  absl::flat_hash_map<std::string, Fold> folds;
  for (size_t i = 0; i < changes.size(); ++i) {
    const auto [it, first] = folds.try_emplace(ChangedInstanceKey(changes[i]), Fold{changes[i].kind, i});
    if (!first) it->second.last = i;
  }
  std::vector<size_t> kept;
  for (auto& [key, fold] : folds) {
    Change& last = changes[fold.last];
    // Added within the window: the watcher never held it before.
    const bool held_before = fold.first_kind != ChangeKind::kAdded;
    if (last.kind == ChangeKind::kRemoved) {
      if (held_before) kept.push_back(fold.last);
    } else {
      last.kind = held_before ? ChangeKind::kUpdated : ChangeKind::kAdded;
      kept.push_back(fold.last);
    }
  }
  std::sort(kept.begin(), kept.end());
  std::vector<Change> coalesced;
  coalesced.reserve(kept.size());
  for (const size_t i : kept) coalesced.push_back(std::move(changes[i]));
  return coalesced;
}

namespace {

std::vector<uint32_t> ShardsToRead(const Registry& registry, const std::string& service) {
  if (!service.empty()) return {registry.ShardOfService(service)};
  std::vector<uint32_t> shards(registry.shard_count());
  for (uint32_t i = 0; i < shards.size(); ++i) shards[i] = i;
  return shards;
}

}  // namespace

WatchFeed::WatchFeed(Registry& registry, std::string service, uint64_t since_revision, bool coalesce,
                     bool read_lost_history)
    : registry_(registry),
      service_(std::move(service)),
      shards_(ShardsToRead(registry, service_)),
      coalesce_(coalesce),
      read_lost_history_(read_lost_history),
      revision_(since_revision) {}

// Each shard is read at its own moment, so the shards' snapshots reflect
// different revisions. Reading the registry's revision after all of them and
// applying each shard's changes up to it brings them to one revision: a
// change up to it is in its shard's log by the time that log is read, since
// a shard takes its revision and logs the change under one lock. Applying is
// coalescing: the snapshot's instances are each one's first change.
WatchBatch WatchFeed::TakeSnapshot(bool history_lost) {
  for (;;) {
    std::vector<Change> instances;
    std::vector<uint64_t> taken_at;
    for (const uint32_t shard : shards_) taken_at.push_back(registry_.Snapshot(shard, service_, instances));
    const uint64_t revision = registry_.Revision();
    bool complete = true;
    for (size_t i = 0; i < shards_.size() && complete; ++i) {
      complete = registry_.ChangesSince(shards_[i], service_, taken_at[i], revision, instances);
    }
    if (!complete) continue;  // a shard's log overflowed meanwhile: read again

    WatchBatch batch;
    batch.snapshot = true;
    batch.history_lost = history_lost;
    batch.revision = revision;
    for (Change& change : CoalesceChanges(std::move(instances))) {
      if (change.kind == ChangeKind::kRemoved) continue;
      change.kind = ChangeKind::kAdded;
      change.revision = 0;
      batch.changes.push_back(std::move(change));
    }
    revision_ = revision;
    started_ = true;
    return batch;
  }
}

std::optional<WatchBatch> WatchFeed::Next() {
  if (!started_ && revision_ == 0) return TakeSnapshot(false);
  const uint64_t revision = registry_.Revision();
  // A revision the registry never handed out: from an earlier run.
  if (revision_ > revision) return TakeSnapshot(true);
  if (started_ && revision == revision_) return std::nullopt;  // nothing changed anywhere

  WatchBatch batch;
  for (const uint32_t shard : shards_) {
    if (!registry_.ChangesSince(shard, service_, revision_, revision, batch.changes)) {
      if (read_lost_history_) return TakeSnapshot(true);
      WatchBatch lost;
      lost.snapshot = true;
      lost.history_lost = true;
      lost.revision = revision_;  // not moved: the caller skips forward once it has the state
      return lost;
    }
  }
  const bool first = !started_;
  started_ = true;
  revision_ = revision;
  if (batch.changes.empty() && !first) return std::nullopt;
  if (shards_.size() > 1) {
    std::stable_sort(batch.changes.begin(), batch.changes.end(),
                     [](const Change& a, const Change& b) { return a.revision < b.revision; });
  }
  if (coalesce_ && batch.changes.size() > kCoalesceAbove) {
    const size_t before = batch.changes.size();
    batch.changes = CoalesceChanges(std::move(batch.changes));
    batch.coalesced = true;
    batch.folded = before - batch.changes.size();
  }
  batch.revision = revision;
  return batch;
}

}  // namespace registryd
