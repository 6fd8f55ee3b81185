// discovery_service.DiscoveryService/warnServerError — a client could not
// reach a server: take it out of rotation until its next heartbeat and offer
// another one.
#include "core/log.h"
#include "server/rpcs/seed_rpcs.h"
#include "server/queue/status.h"

namespace registryd {

void WarnServerErrorRpc::Handle(RegistryWriter& writer, const Request& request, Reply& reply,
                                const auth::CallerRef& caller, RpcDone done) {
  // Whether a serverId exists is only told to a caller that may eject somewhere.
  if (caller) {
    if (absl::Status check = caller->MayOnSome(auth::Permission::kAdmin, "eject from"); !check.ok()) {
      caller->Audit("eject", "", std::to_string(request.serverid()), check);
      std::move(done)(ToGrpcStatus(check));
      return;
    }
  }
  writer.WarnServerError(request.serverid(), caller, [&request, &reply, auditor = auth::AuditorOf(caller),
                                                      done = std::move(done)](absl::StatusOr<WarnResult> result) mutable {
    if (auditor && (!result.ok() || result->known)) {
      // A refused one names no service: the refusal's message does.
      auditor->Audit("eject", result.ok() ? result->service : "", std::to_string(request.serverid()), result.status());
    }
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
