// registry.v1.Registry/Discover — every live instance of a service.
#include <grpcpp/impl/codegen/proto_utils.h>

#include "core/validation.h"
#include "server/native_rpcs.h"
#include "server/status.h"

namespace registryd {

grpc::Status DiscoverRpc::Handle(DiscoverBackend& backend, const Request& request, Reply& reply) {
  if (absl::Status check = ValidateService("service", request.service()); !check.ok()) {
    return ToGrpcStatus(check);
  }
  Registry& registry = backend.registry;
  const std::string_view service = request.service();
  const TimePoint now = registry.clock().Now();
  if (const grpc::ByteBuffer* cached =
          backend.cache.Find(service, request.exclude_overloaded(), registry.ServiceRevision(service), now)) {
    reply = *cached;  // shares the buffer's slices: no copy
    return grpc::Status::OK;
  }

  registry::v1::DiscoverResponse message;
  TimePoint first_deadline = TimePoint::max();
  const uint64_t revision = registry.Discover(
      service, request.exclude_overloaded(), [&](const InstanceRecord& record) {
        registry::v1::Instance& instance = *message.add_instances();
        instance.set_service(request.service());
        instance.set_instance_id(record.instance_id().data(), record.instance_id().size());
        instance.set_address(record.Address());
        for (auto& [key, value] : record.metadata()) (*instance.mutable_metadata())[key] = std::move(value);
        instance.set_overloaded(record.overloaded);
        // A lease another cluster node keeps has no deadline here: its TTL is the bound.
        instance.set_ttl_remaining_ms(ToWireMillis(std::min<Duration>(record.deadline - now, record.ttl())));
        first_deadline = std::min(first_deadline, record.deadline);
      });
  message.set_revision(revision);
  bool own_buffer = false;
  if (grpc::Status serialized =
          grpc::SerializationTraits<registry::v1::DiscoverResponse>::Serialize(message, &reply, &own_buffer);
      !serialized.ok()) {
    return serialized;
  }
  backend.cache.Store(service, request.exclude_overloaded(), revision, now, first_deadline, reply);
  return grpc::Status::OK;
}

}  // namespace registryd
