// registry_service.RegistryService/heartBeat — renew the lease of a serverId.
#include "metrics/thread_metrics.h"
#include "server/rpcs/seed_rpcs.h"
#include "server/queue/status.h"

namespace registryd {

grpc::Status SeedHeartbeatRpc::Handle(RegistryWriter& writer, const Request& request, Reply& reply,
                                      const auth::CallerRef& caller) {
  metrics::Local().Heartbeats(metrics::HeartbeatApi::kSeed);
  const absl::StatusOr<Duration> ttl = writer.SeedHeartbeat(request.serverid(), request.overloaded(), caller.get());
  if (!ttl.ok()) return ToGrpcStatus(ttl.status());
  reply.set_success(true);
  return grpc::Status::OK;
}

}  // namespace registryd
