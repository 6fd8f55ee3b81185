// registry.v1.Registry/ListServices — service names and instance counts.
#include "server/rpcs/native_rpcs.h"
#include "server/queue/status.h"

namespace registryd {

// Under a policy, the list holds the services the caller may read.
grpc::Status ListServicesRpc::Handle(Registry& registry, const Request&, Reply& reply,
                                     const auth::CallerRef& caller) {
  if (caller) {
    if (absl::Status check = caller->MayOnSome(auth::Permission::kRead, "read"); !check.ok()) {
      return ToGrpcStatus(check);
    }
  }
  for (const ServiceSummary& service : registry.ListServices()) {
    if (caller && !caller->CanRead(service.name)) continue;
    registry::v1::ServiceSummary& summary = *reply.add_services();
    summary.set_name(service.name);
    summary.set_instances(service.instances);
  }
  return grpc::Status::OK;
}

}  // namespace registryd
