// registry.v1.Registry/Discover — every live instance of a service.
#include "core/validation.h"
#include "server/native_rpcs.h"
#include "server/status.h"

namespace registryd {

grpc::Status DiscoverRpc::Handle(Registry& registry, const Request& request, Reply& reply) {
  if (absl::Status check = ValidateService("service", request.service()); !check.ok()) {
    return ToGrpcStatus(check);
  }
  const TimePoint now = registry.clock().Now();
  const uint64_t revision = registry.Discover(
      request.service(), request.exclude_overloaded(), [&](const InstanceRecord& record) {
        registry::v1::Instance& instance = *reply.add_instances();
        instance.set_service(request.service());
        instance.set_instance_id(record.instance_id);
        instance.set_address(record.Address());
        instance.mutable_metadata()->insert(record.metadata.begin(), record.metadata.end());
        instance.set_overloaded(record.overloaded);
        instance.set_ttl_remaining_ms(ToWireMillis(record.deadline - now));
      });
  reply.set_revision(revision);
  return grpc::Status::OK;
}

}  // namespace registryd
