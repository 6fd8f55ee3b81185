// registry.v1.Registry/Discover — every live instance of a service.
#include <grpcpp/impl/codegen/proto_utils.h>

#include "core/validation.h"
#include "server/rpcs/discover_reply.h"
#include "server/rpcs/native_rpcs.h"
#include "server/queue/status.h"

namespace registryd {

grpc::Status DiscoverRpc::Handle(DiscoverBackend& backend, const Request& request, Reply& reply,
                                 const auth::CallerRef& caller) {
  if (absl::Status check = ValidateService("service", request.service()); !check.ok()) {
    return ToGrpcStatus(check);
  }
  if (caller) {
    if (absl::Status check = caller->MayRead(request.service()); !check.ok()) return ToGrpcStatus(check);
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
  const TimePoint first_deadline =
      FillDiscoverResponse(registry, service, request.exclude_overloaded(), now, message);
  const uint64_t revision = message.revision();
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
