// The info-level summary line: at most one per interval, and only when
// something changed, so high churn never floods the log (a line per event
// would drown operators and cost the heartbeat path).
#pragma once

#include "core/registry.h"

namespace registryd {

class ActivitySummary {
 public:
  ActivitySummary(const Registry& registry, Duration interval);

  // Logs the counts since the last line if `interval` has passed and
  // anything changed. Called from one thread (queue 0's ticker).
  void MaybeLog(TimePoint now);

 private:
  const Registry& registry_;
  const Duration interval_;
  TimePoint next_due_;
  RegistryTotals last_;
};

}  // namespace registryd
