// What one watcher receives: the visible instances of a service (or of every
// service) as a snapshot, then every change after it, in revision order.
//
// A feed holds no changes of its own, only how far it has read (a revision):
// the changes live once, in the shards' logs, however many watchers read
// them and however far behind they are. A watcher that falls behind gets the
// changes it missed coalesced to one per instance, and one that falls out of
// the logs gets a fresh snapshot, so a slow consumer costs memory only for
// the batch it is being sent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/change.h"
#include "core/registry.h"

namespace registryd {

struct WatchBatch {
  // `changes` are every visible instance (all kAdded, revision 0): the
  // watcher replaces what it holds.
  bool snapshot = false;
  // A snapshot sent instead of changes that are no longer kept (after the
  // revision a watcher resumed from, or while it was behind).
  bool history_lost = false;
  // One change per instance, with its latest state: the watcher was behind.
  bool coalesced = false;
  size_t folded = 0;  // changes coalescing left out (folded into a later one)
  std::vector<Change> changes;
  // Every change up to this revision is reflected: where to resume.
  uint64_t revision = 0;
};

class WatchFeed {
 public:
  // More changes than this in one batch are coalesced.
  static constexpr size_t kCoalesceAbove = 256;

  // Watches `service`, or every service when it is empty. `since_revision`
  // 0 starts with a snapshot; another starts with the changes after it, or
  // with a snapshot marked history_lost when they are not all kept.
  // `coalesce` false: every change, in order, however many (the data dir's
  // journal, whose removals name leases, not instances).
  // `read_lost_history` false: when the changes after the feed's revision
  // are no longer kept, Next returns an empty batch marked snapshot and
  // history_lost instead of reading every instance (the journal writes its
  // own snapshot then, and must not hold the whole registry twice); the
  // caller then skips the feed forward with SkipTo.
  WatchFeed(Registry& registry, std::string service, uint64_t since_revision, bool coalesce = true,
            bool read_lost_history = true);

  // The next batch. The first call always returns one (perhaps without
  // changes: a resume that missed nothing); later calls return nothing when
  // nothing changed.
  std::optional<WatchBatch> Next();

  const std::string& service() const { return service_; }
  // Read up to here. Once the first batch is out, a batch for the changes in
  // (revision(), later] built for another feed of the same service is this
  // feed's too: SkipTo(later) records that it was sent.
  uint64_t revision() const { return revision_; }
  bool started() const { return started_; }
  void SkipTo(uint64_t later) { revision_ = later; }
  // Whether changes in `shard` can concern this feed.
  bool Reads(uint32_t shard) const { return service_.empty() || shard == shards_.front(); }

 private:
  WatchBatch TakeSnapshot(bool history_lost);

  Registry& registry_;
  const std::string service_;
  const std::vector<uint32_t> shards_;  // the service's, or every one
  const bool coalesce_;
  const bool read_lost_history_;
  uint64_t revision_;  // read up to here
  bool started_ = false;
};

// `changes` (in revision order) reduced to one per instance, in the order of
// each one's last change: what a watcher that held the state before the first
// of them needs to hold the state after the last. An instance added and
// removed again disappears; one removed and added again is kUpdated.
std::vector<Change> CoalesceChanges(std::vector<Change> changes);

}  // namespace registryd
