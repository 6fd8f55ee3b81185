#include "core/change_log.h"

#include <algorithm>
#include <cstdlib>

namespace registryd {

ChangeLog::ChangeLog(size_t capacity, uint64_t first_revision)
    : ring_(std::max<size_t>(capacity, 1)), dropped_through_(first_revision), last_revision_(first_revision) {}

void ChangeLog::Append(Change change) {
  if (change.revision <= last_revision_) std::abort();  // revisions only grow
  last_revision_ = change.revision;
  if (size_ == ring_.size()) {
    dropped_through_ = ring_[first_].revision;
    ring_[first_] = std::move(change);
    first_ = (first_ + 1) % ring_.size();
    return;
  }
  ring_[(first_ + size_) % ring_.size()] = std::move(change);
  ++size_;
}

bool ChangeLog::CopySince(std::string_view service, uint64_t after, uint64_t upto,
                          std::vector<Change>& out) const {
  if (after < dropped_through_) return false;
  // The first kept change after `after`: a binary search over the ring in
  // revision order.
  size_t low = 0;
  size_t high = size_;
  while (low < high) {
    const size_t middle = (low + high) / 2;
    if (At(middle).revision <= after) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  for (size_t i = low; i < size_ && At(i).revision <= upto; ++i) {
    const Change& change = At(i);
    if (service.empty() || change.service == service) out.push_back(change);
  }
  return true;
}

void ChangeLog::Reset(uint64_t revision) {
  for (Change& change : ring_) change = Change{};
  first_ = 0;
  size_ = 0;
  dropped_through_ = revision;
  last_revision_ = revision;
}

}  // namespace registryd
