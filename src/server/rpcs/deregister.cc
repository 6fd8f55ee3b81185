// registry.v1.Registry/Deregister — remove an instance now.
#include <fmt/core.h>

#include "core/log.h"
#include "server/rpcs/native_rpcs.h"
#include "server/queue/status.h"

namespace registryd {

void DeregisterRpc::Handle(RegistryWriter& writer, const Request& request, Reply&, const auth::CallerRef& caller,
                           RpcDone done) {
  writer.Deregister(request.lease_id(), caller, [&request, auditor = auth::AuditorOf(caller),
                                                 done = std::move(done)](absl::StatusOr<Removal> removed) mutable {
    if (auditor) {
      // A refused one names its lease: the refusal's message names the service.
      auditor->Audit("deregister", removed.ok() ? removed->service : "",
                    removed.ok() ? removed->instance_id : fmt::format("lease {:016x}", request.lease_id()),
                    removed.status());
    }
    if (!removed.ok()) {
      std::move(done)(ToGrpcStatus(removed.status()));
      return;
    }
    log::Debug("deregistered {}/{}", removed->service, removed->instance_id);
    std::move(done)(grpc::Status::OK);
  });
}

}  // namespace registryd
