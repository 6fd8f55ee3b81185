// A hashed timer wheel for lease deadlines, tuned for timers that are renewed
// far more often than they fire.
//
// A lease is filed once, in the slot of the first tick at or after its
// deadline. Renewing a lease does not touch the wheel: the owner just moves
// the lease's deadline. When the slot comes round, Advance() asks the owner
// for each entry's current deadline: a lease that was renewed (or whose
// deadline lies beyond one rotation) is filed again further on, a lease whose
// deadline has passed is reported as expired, a lease that is gone is dropped.
// So a heartbeat is O(1) and costs the wheel nothing, and each lease is looked
// at about once per TTL.
//
// Guarantees: an entry is never reported before its deadline, and it is
// reported by the first Advance() at or after the tick following its deadline,
// unless the per-call budget is used up, in which case the rest waits for the
// next call (HasDueWork() says so) instead of stalling the caller.
//
// Not thread-safe: the owning shard serialises access.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/clock.h"

namespace registryd {

class TimerWheel {
 public:
  using Entry = uint32_t;
  // A tick's number modulo 2^32: all an entry's owner keeps to recognise the
  // tick its current entry is filed under (entries are filed less than 2^31
  // ticks from the current one), so a record spends 4 bytes on it, not 8.
  using TickStamp = uint32_t;

  // `slots` * `tick` is one rotation; longer deadlines go round more than once.
  TimerWheel(TimePoint start, Duration tick, size_t slots);

  // Files `entry`, due at `deadline`. A deadline in the past is due at once.
  // Returns the stamp of the tick the entry is filed under.
  TickStamp Schedule(Entry entry, TimePoint deadline);
  // The tick an entry due at `deadline` is filed under now: the first tick at
  // or after it, but within this rotation. Inside Advance(), also where a
  // kRenewed entry goes.
  TimePoint FilingTime(TimePoint deadline) const { return TickTime(FilingTick(deadline)); }
  TickStamp FilingStamp(TimePoint deadline) const { return StampOf(FilingTick(deadline)); }
  // When the tick of `stamp` (one filed now or later) falls due.
  TimePoint StampTime(TickStamp stamp) const {
    return TickTime(current_tick_ + static_cast<int32_t>(stamp - StampOf(current_tick_)));
  }
  // True when an entry due at `deadline` would be filed under an earlier tick
  // than the one of `stamp`.
  bool FilesEarlier(TimePoint deadline, TickStamp stamp) const {
    const TimePoint stamp_time = StampTime(stamp);
    return deadline < stamp_time && FilingTime(deadline) < stamp_time;
  }

  // What the owner answers for an entry that comes due.
  struct Verdict {
    enum Kind { kExpired, kRenewed, kGone } kind;
    TimePoint deadline;  // kRenewed: the new deadline
  };

  // Processes the slots whose tick time is <= now, at most `budget` entries.
  // `check(entry)` returns the entry's verdict; `expire(entry)` is then called
  // for each expired one. Returns how many entries were processed.
  template <typename Check, typename Expire>
  size_t Advance(TimePoint now, size_t budget, Check&& check, Expire&& expire);

  // True when a tick at or before `now` is not fully processed yet (the
  // budget ran out): call Advance() again soon.
  bool HasDueWork(TimePoint now) const;
  // When the next tick falls due. Inside Advance(): the tick being processed.
  TimePoint NextTickTime() const { return TickTime(current_tick_); }
  TickStamp NextTickStamp() const { return StampOf(current_tick_); }
  // Entries filed, including those of leases that are already gone.
  size_t size() const { return size_; }

 private:
  TimePoint TickTime(int64_t tick) const { return start_ + tick * tick_; }
  static TickStamp StampOf(int64_t tick) { return static_cast<TickStamp>(tick); }
  int64_t TickAtOrAfter(TimePoint deadline) const;
  int64_t FilingTick(TimePoint deadline) const;
  std::vector<Entry>& SlotOf(int64_t tick) { return slots_[static_cast<size_t>(tick) % slots_.size()]; }

  TimePoint start_;
  Duration tick_;
  int64_t current_tick_ = 0;  // the oldest tick not yet fully processed
  size_t size_ = 0;
  std::vector<std::vector<Entry>> slots_;
};

template <typename Check, typename Expire>
size_t TimerWheel::Advance(TimePoint now, size_t budget, Check&& check, Expire&& expire) {
  size_t processed = 0;
  if (size_ == 0) {  // nothing filed: skip the elapsed ticks instead of walking them
    current_tick_ = std::max(current_tick_, TickAtOrAfter(now + Duration(1)));
    return 0;
  }
  while (TickTime(current_tick_) <= now) {
    std::vector<Entry>& slot = SlotOf(current_tick_);
    while (!slot.empty()) {
      if (processed == budget) return processed;
      const Entry entry = slot.back();
      slot.pop_back();
      --size_;
      ++processed;
      const Verdict verdict = check(entry);
      switch (verdict.kind) {
        case Verdict::kExpired:
          expire(entry);
          break;
        case Verdict::kRenewed:
          Schedule(entry, verdict.deadline);
          break;
        case Verdict::kGone:
          break;
      }
    }
    ++current_tick_;
  }
  return processed;
}

}  // namespace registryd
