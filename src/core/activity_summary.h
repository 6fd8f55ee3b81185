// The registry's info-level summary line: at most one per interval, and only
// when something changed, so high churn never floods the log (a line per
// event would drown operators and cost the heartbeat path).
#pragma once

#include <optional>
#include <string>

#include "core/registry.h"

namespace registryd {

class ActivitySummary {
 public:
  ActivitySummary(const Registry& registry, Duration interval);

  // The line to log now, if `interval` has passed since the last check that
  // was due and any count changed since the last line. Called from one thread.
  std::optional<std::string> Due(TimePoint now);

 private:
  const Registry& registry_;
  const Duration interval_;
  TimePoint next_due_;
  RegistryTotals last_;
};

}  // namespace registryd
