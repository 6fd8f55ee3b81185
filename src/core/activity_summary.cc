#include "core/activity_summary.h"

#include <fmt/core.h>

namespace registryd {

ActivitySummary::ActivitySummary(const Registry& registry, Duration interval)
    : registry_(registry), interval_(interval), next_due_(registry.clock().Now() + interval) {}

std::optional<std::string> ActivitySummary::Due(TimePoint now) {
  if (now < next_due_) return std::nullopt;
  next_due_ = now + interval_;
  const RegistryTotals totals = registry_.Totals();
  if (totals.registered == last_.registered && totals.deregistered == last_.deregistered &&
      totals.expired == last_.expired && totals.ejected == last_.ejected) {
    return std::nullopt;
  }
  std::string line = fmt::format(
      "registered {}, deregistered {}, expired {}, ejected {} in the last {}s; {} live instances",
      totals.registered - last_.registered, totals.deregistered - last_.deregistered,
      totals.expired - last_.expired, totals.ejected - last_.ejected,
      std::chrono::duration_cast<std::chrono::seconds>(interval_).count(), totals.live);
  last_ = totals;
  return line;
}

}  // namespace registryd
