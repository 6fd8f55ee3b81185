// What registryd's grpc.health.v1.Health service reports: a serving status
// for the server ("") and for each service it serves. Changes are rare (the
// start, the shutdown); every Check and every health Watch reads it.
//
// Thread-safety: any thread may call any method. The change callback runs on
// the thread that made the change, after the lock is released.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "core/mutex.h"
#include "grpc/health/v1/health.pb.h"

namespace registryd {

class HealthStatus {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // A service's status as the health protocol words it: SERVICE_UNKNOWN for
  // a name never set. `final`: the server is shutting down, the status
  // (NOT_SERVING) will not change again.
  struct Reading {
    ServingStatus status;
    bool final;
  };

  // Set once, before the status is shared between threads.
  void set_on_change(std::function<void()> on_change) { on_change_ = std::move(on_change); }

  // Makes `service` known with this status; ignored once shut down.
  void Set(const std::string& service, bool serving);
  // Every service, known or watched, is NOT_SERVING from now on.
  void Shutdown();

  Reading Read(const std::string& service) const;
  // A Check's answer, in one look: the status of a service set before,
  // nullopt for one never set (even after shutdown).
  std::optional<ServingStatus> StatusOfKnown(const std::string& service) const;

 private:
  void Changed() const {
    if (on_change_) on_change_();
  }

  std::function<void()> on_change_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace registryd
