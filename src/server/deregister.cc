// registry.v1.Registry/Deregister — remove an instance now.
#include "core/log.h"
#include "server/native_rpcs.h"
#include "server/status.h"

namespace registryd {

void DeregisterRpc::Handle(RegistryWriter& writer, const Request& request, Reply&, RpcDone done) {
  writer.Deregister(request.lease_id(), [done = std::move(done)](absl::StatusOr<Removal> removed) mutable {
    if (!removed.ok()) {
      std::move(done)(ToGrpcStatus(removed.status()));
      return;
    }
    log::Debug("deregistered {}/{}", removed->service, removed->instance_id);
    std::move(done)(grpc::Status::OK);
  });
}

}  // namespace registryd
