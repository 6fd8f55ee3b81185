#include "core/timer_wheel.h"

#include <algorithm>
#include <cassert>

namespace registryd {

TimerWheel::TimerWheel(TimePoint start, Duration tick, size_t slots)
    : start_(start), tick_(tick), slots_(std::max<size_t>(slots, 2)) {
  assert(tick > Duration::zero());
}

int64_t TimerWheel::TickAtOrAfter(TimePoint deadline) const {
  const Duration since_start = deadline - start_;
  if (since_start <= Duration::zero()) return 0;
  return (since_start.count() + tick_.count() - 1) / tick_.count();
}

int64_t TimerWheel::FilingTick(TimePoint deadline) const {
  // Never file into a slot already passed; beyond one rotation, file into the
  // last slot of this rotation and let Advance() file it again from there.
  const int64_t last_in_rotation = current_tick_ + static_cast<int64_t>(slots_.size()) - 1;
  return std::clamp(TickAtOrAfter(deadline), current_tick_, last_in_rotation);
}

TimerWheel::TickStamp TimerWheel::Schedule(Entry entry, TimePoint deadline) {
  const int64_t tick = FilingTick(deadline);
  SlotOf(tick).push_back(entry);
  ++size_;
  return StampOf(tick);
}

bool TimerWheel::HasDueWork(TimePoint now) const { return TickTime(current_tick_) <= now; }

}  // namespace registryd
