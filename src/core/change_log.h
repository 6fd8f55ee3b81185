// A shard's recent changes, for watchers that catch up or resume, and for
// the data dir's journal, which must read every one.
//
// The log keeps the last `capacity` changes in revision order (the watch
// history). Beyond that it keeps what its owner says is still unread
// (DropOldest's `through`), so that a burst of changes never makes the
// journal fall out of the log; the owner bounds that, and drops the oldest
// changes once they are read. The log remembers the newest revision it
// dropped, so a reader can tell whether the changes after a revision are all
// still here.
//
// Storage is a ring that doubles when full and halves when mostly empty, so
// a burst costs memory only while it is unread, and the common case (a full
// watch history, one change in, one out) allocates nothing.
//
// Not thread-safe: the owning shard serialises access.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/change.h"

namespace registryd {

// What a registry's shards keep beyond their logs' capacity for a reader
// that must see every change (the journal): the changes after
// `read_through`, as long as all shards together keep fewer than
// `max_retained` so. None without such a reader.
struct ChangeRetention {
  std::atomic<uint64_t> read_through{UINT64_MAX};
  std::atomic<size_t> retained{0};
  size_t max_retained = 0;

  // The revisions a log may drop now.
  uint64_t DroppableThrough() const {
    return retained.load(std::memory_order_relaxed) < max_retained ? read_through.load(std::memory_order_acquire)
                                                                   : UINT64_MAX;
  }
  // A log's extra changes went from `before` to `after`.
  void Account(size_t before, size_t after) {
    if (after > before) retained.fetch_add(after - before, std::memory_order_relaxed);
    if (before > after) retained.fetch_sub(before - after, std::memory_order_relaxed);
  }
};

class ChangeLog {
 public:
  // `first_revision`: the revision before the first change this log can
  // hold; changes after older revisions are not kept.
  ChangeLog(size_t capacity, uint64_t first_revision);

  // `change.revision` is above every revision appended before. When
  // `capacity()` changes are kept, the oldest goes to make room if its
  // revision is at most `droppable_through`; else the log grows.
  void Append(Change change, uint64_t droppable_through);
  // Drops the oldest changes, while more than `capacity()` are kept, as long
  // as their revision is at most `droppable_through`. Returns how many went.
  size_t DropOldest(uint64_t droppable_through);

  // Appends the changes with a revision in (after, upto] (of
  // `service`, or of every service when it is empty) to `out`. False, with
  // nothing appended, when some of those changes are no longer kept.
  bool CopySince(std::string_view service, uint64_t after, uint64_t upto, std::vector<Change>& out) const;

  uint64_t last_revision() const { return last_revision_; }
  size_t capacity() const { return capacity_; }
  size_t size() const { return size_; }
  // Changes kept beyond the capacity.
  size_t extra() const { return size_ > capacity_ ? size_ - capacity_ : 0; }
  // Drops every change: the log starts again after `revision`.
  void Reset(uint64_t revision);

 private:
  Change& At(size_t logical) { return ring_[(first_ + logical) & (ring_.size() - 1)]; }
  const Change& At(size_t logical) const { return ring_[(first_ + logical) & (ring_.size() - 1)]; }
  void Resize(size_t slots);
  void DropFirst();

  const size_t capacity_;
  std::vector<Change> ring_;  // a power of two of slots, at least capacity_
  size_t first_ = 0;          // ring index of the oldest change
  size_t size_ = 0;
  uint64_t dropped_through_;  // changes up to this revision are not kept
  uint64_t last_revision_;
};

}  // namespace registryd
