#include "server/watchdog_feeder.h"

#include <chrono>

namespace registryd {

void WatchdogFeeder::Arm() {
  const gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                             gpr_time_from_nanos(watchdog_.period().count(), GPR_TIMESPAN));
  ServingQueue::StartGuard guard(queue_);
  if (guard.accepting()) alarm_.Set(queue_.cq(), deadline, this);
}

void WatchdogFeeder::Proceed(bool ok) {
  if (!ok) return;  // cancelled at shutdown
  watchdog_.Ran(queue_.index(), std::chrono::steady_clock::now());
  Arm();
}

}  // namespace registryd
