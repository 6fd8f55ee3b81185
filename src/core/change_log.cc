#include "core/change_log.h"

#include <algorithm>
#include <bit>
#include <cstdlib>

namespace registryd {

ChangeLog::ChangeLog(size_t capacity, uint64_t first_revision)
    : capacity_(std::max<size_t>(capacity, 1)),
      ring_(std::bit_ceil(capacity_)),
      dropped_through_(first_revision),
      last_revision_(first_revision) {}

void ChangeLog::Resize(size_t slots) {
  std::vector<Change> resized(slots);
  for (size_t i = 0; i < size_; ++i) resized[i] = std::move(At(i));
  ring_ = std::move(resized);
  first_ = 0;
}

void ChangeLog::Append(Change change, uint64_t droppable_through) {
  if (change.revision <= last_revision_) std::abort();  // revisions only grow
  last_revision_ = change.revision;
  if (size_ >= capacity_ && At(0).revision <= droppable_through) DropFirst();
  if (size_ == ring_.size()) Resize(ring_.size() * 2);
  At(size_) = std::move(change);
  ++size_;
}

void ChangeLog::DropFirst() {
  dropped_through_ = At(0).revision;
  At(0) = Change{};
  first_ = (first_ + 1) & (ring_.size() - 1);
  --size_;
}

size_t ChangeLog::DropOldest(uint64_t droppable_through) {
  size_t dropped = 0;
  while (size_ > capacity_ && At(0).revision <= droppable_through) {
    DropFirst();
    ++dropped;
  }
  // A burst read: give its memory back, keeping room for the history.
  const size_t base = std::bit_ceil(capacity_);
  if (ring_.size() > base && size_ <= ring_.size() / 4) Resize(std::max(base, ring_.size() / 2));
  return dropped;
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
  ring_.assign(std::bit_ceil(capacity_), Change{});
  first_ = 0;
  size_ = 0;
  dropped_through_ = revision;
  last_revision_ = revision;
}

}  // namespace registryd
