// discovery_service.DiscoveryService/warnServerError — a client could not
// reach a server: take it out of rotation until its next heartbeat and offer
// another one.
#include "core/log.h"
#include "server/seed_rpcs.h"
#include "server/status.h"

namespace registryd {

void WarnServerErrorRpc::Handle(RegistryWriter& writer, const Request& request, Reply& reply, RpcDone done) {
  writer.WarnServerError(request.serverid(), [&request, &reply,
                                              done = std::move(done)](absl::StatusOr<WarnResult> result) mutable {
    if (!result.ok()) {
      std::move(done)(ToGrpcStatus(result.status()));
      return;
    }
    if (result->known) log::Debug("ejected serverId {} on a client's warning", request.serverid());
    FillSeedReply(result->replacement, reply);
    std::move(done)(grpc::Status::OK);
  });
}

}  // namespace registryd
