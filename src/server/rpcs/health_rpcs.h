// grpc.health.v1.Health on registryd's queues: Check runs on
// UnaryCall<HealthCheckRpc>, Watch on WatchCall<HealthResponses>. Both read
// the server's HealthStatus.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include "metrics/thread_metrics.h"
#include "server/rpcs/health_status.h"
#include "server/queue/lenient_services.h"
#include "server/queue/serving_queue.h"
#include "server/queue/watch_hub.h"

namespace registryd {

// The status of a known service; NOT_FOUND for any other name.
struct HealthCheckRpc {
  using Service = HealthService;
  using Request = lenient::HealthCheckRequest;
  using Reply = grpc::health::v1::HealthCheckResponse;
  static constexpr auto kRequest = &Service::RequestCheckLenient;
  static constexpr std::string_view kName = "grpc.health.v1.Health/Check";
  static grpc::Status Handle(HealthStatus& health, const Request& request, Reply& reply);
};

// What one health Watch stream sends: the watched service's status at once
// (SERVICE_UNKNOWN for a name not served, and the stream stays open), then
// the status each time it changes. When the server shuts down: NOT_SERVING,
// then the stream ends with UNAVAILABLE. Close() leaves these streams to end
// themselves, so that NOT_SERVING is written before the connections close.
class HealthResponses {
 public:
  using Backend = HealthStatus;
  using Service = HealthService;
  using Request = lenient::HealthCheckRequest;
  static constexpr auto kRequest = &Service::RequestWatchLenient;
  static constexpr std::string_view kName = "grpc.health.v1.Health/Watch";
  static constexpr metrics::StreamKind kStreamKind = metrics::StreamKind::kHealthWatch;
  static constexpr ServingQueue::AtClose kAtClose = ServingQueue::AtClose::kEndsItself;

  HealthResponses(HealthStatus& health, WatchHub&) : health_(health) {}

  grpc::Status Open(const Request& request);
  bool Reads(uint32_t) const { return true; }  // the health hub has one topic
  // The status, unless it is the one sent last.
  bool Next(grpc::ByteBuffer& response);
  std::optional<grpc::Status> Ended() const;

 private:
  HealthStatus& health_;
  std::string service_;
  std::optional<HealthStatus::ServingStatus> sent_;
  bool final_sent_ = false;
};

}  // namespace registryd
