// discovery_service.DiscoveryService/findServer — one live server of a service.
#include "core/validation.h"
#include "server/rpcs/seed_rpcs.h"
#include "server/queue/status.h"

namespace registryd {

void FillSeedReply(const std::optional<Endpoint>& endpoint, discovery_service::QueryReply& reply) {
  reply.set_querysuccess(endpoint.has_value());
  if (!endpoint) return;
  reply.set_serverid(endpoint->server_id);
  reply.set_serverip(endpoint->host);
  reply.set_serverport(endpoint->port);
}

grpc::Status FindServerRpc::Handle(Registry& registry, const Request& request, Reply& reply,
                                   const auth::CallerRef& caller) {
  if (absl::Status check = ValidateService("service", request.service()); !check.ok()) {
    return ToGrpcStatus(check);
  }
  if (caller) {
    if (absl::Status check = caller->MayRead(request.service()); !check.ok()) return ToGrpcStatus(check);
  }
  FillSeedReply(registry.FindServer(request.service()), reply);
  return grpc::Status::OK;
}

}  // namespace registryd
