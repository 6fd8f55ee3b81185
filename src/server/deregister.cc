// registry.v1.Registry/Deregister — remove an instance now.
#include "core/log.h"
#include "server/native_rpcs.h"
#include "server/status.h"

namespace registryd {

grpc::Status DeregisterRpc::Handle(Registry& registry, const Request& request, Reply&) {
  const absl::StatusOr<Removal> removed = registry.Deregister(request.lease_id());
  if (!removed.ok()) return ToGrpcStatus(removed.status());
  log::Debug("deregistered {}/{}", removed->service, removed->instance_id);
  return grpc::Status::OK;
}

}  // namespace registryd
