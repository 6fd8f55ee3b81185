// registry.v1.Registry/Register — create or update an instance, grant a lease.
#include <algorithm>

#include "core/validation.h"
#include "server/log.h"
#include "server/native_rpcs.h"
#include "server/status.h"

namespace registryd {

grpc::Status RegisterRpc::Handle(Registry& registry, const Request& request, Reply& reply) {
  if (absl::Status check = ValidateService("service", request.service()); !check.ok()) {
    return ToGrpcStatus(check);
  }
  if (absl::Status check = ValidateInstanceId("instance_id", request.instance_id()); !check.ok()) {
    return ToGrpcStatus(check);
  }
  absl::StatusOr<HostPort> address = ParseAddress("address", request.address());
  if (!address.ok()) return ToGrpcStatus(address.status());

  RegisterSpec spec;
  spec.metadata.assign(request.metadata().begin(), request.metadata().end());
  if (absl::Status check = ValidateMetadata("metadata", spec.metadata); !check.ok()) {
    return ToGrpcStatus(check);
  }
  std::sort(spec.metadata.begin(), spec.metadata.end());
  spec.service = request.service();
  spec.instance_id = request.instance_id();
  spec.host = std::move(address->host);
  spec.port = address->port;
  spec.ttl = registry.GrantTtl(std::chrono::milliseconds(request.ttl_ms()));
  spec.overloaded = request.overloaded();

  absl::StatusOr<RegisterResult> result = registry.Register(spec);
  if (!result.ok()) return ToGrpcStatus(result.status());
  log::Debug("registered {}/{} at {} ({}, TTL {}ms)", spec.service, result->instance_id,
             request.address(), result->created ? "new" : "updated", ToWireMillis(result->ttl));
  reply.set_lease_id(result->lease);
  reply.set_ttl_ms(ToWireMillis(result->ttl));
  reply.set_instance_id(std::move(result->instance_id));
  return grpc::Status::OK;
}

}  // namespace registryd
