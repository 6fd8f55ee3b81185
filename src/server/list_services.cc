// registry.v1.Registry/ListServices — service names and instance counts.
#include "server/native_rpcs.h"

namespace registryd {

grpc::Status ListServicesRpc::Handle(Registry& registry, const Request&, Reply& reply) {
  for (const ServiceSummary& service : registry.ListServices()) {
    registry::v1::ServiceSummary& summary = *reply.add_services();
    summary.set_name(service.name);
    summary.set_instances(service.instances);
  }
  return grpc::Status::OK;
}

}  // namespace registryd
