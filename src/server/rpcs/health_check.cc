// grpc.health.v1.Health/Check: a known service's status.
#include "server/rpcs/health_rpcs.h"

namespace registryd {

grpc::Status HealthCheckRpc::Handle(HealthStatus& health, const Request& request, Reply& reply) {
  const std::optional<HealthStatus::ServingStatus> status = health.StatusOfKnown(request.service());
  if (!status) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service: the health service knows \"\" (the server) "
                                                     "and the services registryd serves");
  }
  reply.set_status(*status);
  return grpc::Status::OK;
}

}  // namespace registryd
