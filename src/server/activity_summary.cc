#include "server/activity_summary.h"

#include "server/log.h"

namespace registryd {

ActivitySummary::ActivitySummary(const Registry& registry, Duration interval)
    : registry_(registry), interval_(interval), next_due_(registry.clock().Now() + interval) {}

void ActivitySummary::MaybeLog(TimePoint now) {
  if (now < next_due_) return;
  next_due_ = now + interval_;
  const RegistryTotals totals = registry_.Totals();
  if (totals.registered == last_.registered && totals.deregistered == last_.deregistered &&
      totals.expired == last_.expired && totals.ejected == last_.ejected) {
    return;
  }
  log::Info("registered {}, deregistered {}, expired {}, ejected {} in the last {}s; {} live instances",
            totals.registered - last_.registered, totals.deregistered - last_.deregistered,
            totals.expired - last_.expired, totals.ejected - last_.ejected,
            std::chrono::duration_cast<std::chrono::seconds>(interval_).count(), totals.live);
  last_ = totals;
}

}  // namespace registryd
