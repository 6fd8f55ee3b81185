// A shard's recent changes, for watchers that catch up or resume: a ring of
// the last `capacity` changes in revision order. Older ones are dropped; the
// log remembers the newest revision it dropped, so a reader can tell whether
// the changes after a revision are all still here.
//
// Not thread-safe: the owning shard serialises access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/change.h"

namespace registryd {

class ChangeLog {
 public:
  // `first_revision`: the revision before the first change this log can
  // hold; changes after older revisions are not kept.
  ChangeLog(size_t capacity, uint64_t first_revision);

  // `change.revision` is above every revision appended before.
  void Append(Change change);

  // Appends the changes with a revision in (after, upto] (of
  // `service`, or of every service when it is empty) to `out`. False, with
  // nothing appended, when some of those changes are no longer kept.
  bool CopySince(std::string_view service, uint64_t after, uint64_t upto, std::vector<Change>& out) const;

  uint64_t last_revision() const { return last_revision_; }
  // Drops every change: the log starts again after `revision`.
  void Reset(uint64_t revision);

 private:
  const Change& At(size_t logical) const { return ring_[(first_ + logical) % ring_.size()]; }

  std::vector<Change> ring_;
  size_t first_ = 0;  // ring index of the oldest change
  size_t size_ = 0;
  uint64_t dropped_through_;  // changes up to this revision are not kept
  uint64_t last_revision_;
};

}  // namespace registryd
