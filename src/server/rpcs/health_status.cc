#include "server/rpcs/health_status.h"

namespace registryd {

using grpc::health::v1::HealthCheckResponse;

void HealthStatus::Set(const std::string& service, bool serving) {
  {
    MutexLock lock(&mu_);
    if (shut_down_) return;
    const auto [entry, added] = serving_.try_emplace(service, serving);
    if (!added && entry->second == serving) return;
    entry->second = serving;
  }
  Changed();
}

void HealthStatus::Shutdown() {
  {
    MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  Changed();
}

HealthStatus::Reading HealthStatus::Read(const std::string& service) const {
  MutexLock lock(&mu_);
  if (shut_down_) return {HealthCheckResponse::NOT_SERVING, true};
  const auto entry = serving_.find(service);
  if (entry == serving_.end()) return {HealthCheckResponse::SERVICE_UNKNOWN, false};
  return {entry->second ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING, false};
}

std::optional<HealthStatus::ServingStatus> HealthStatus::StatusOfKnown(const std::string& service) const {
  MutexLock lock(&mu_);
  const auto entry = serving_.find(service);
  if (entry == serving_.end()) return std::nullopt;
  if (shut_down_ || !entry->second) return HealthCheckResponse::NOT_SERVING;
  return HealthCheckResponse::SERVING;
}

}  // namespace registryd
