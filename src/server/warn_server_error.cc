// discovery_service.DiscoveryService/warnServerError — a client could not
// reach a server: take it out of rotation until its next heartbeat and offer
// another one.
#include "core/log.h"
#include "server/seed_rpcs.h"

namespace registryd {

grpc::Status WarnServerErrorRpc::Handle(Registry& registry, const Request& request, Reply& reply) {
  const WarnResult result = registry.WarnServerError(request.serverid());
  if (result.known) log::Debug("ejected serverId {} on a client's warning", request.serverid());
  FillSeedReply(result.replacement, reply);
  return grpc::Status::OK;
}

}  // namespace registryd
