// registry.v1.Registry/Register — create or update an instance, grant a lease.
#include <algorithm>

#include "core/log.h"
#include "core/validation.h"
#include "server/rpcs/native_rpcs.h"
#include "server/queue/status.h"

namespace registryd {

absl::StatusOr<RegisterSpec> RegisterSpecOf(const Registry& registry, const lenient::RegisterRequest& request) {
  if (absl::Status check = ValidateService("service", request.service()); !check.ok()) return check;
  if (absl::Status check = ValidateInstanceId("instance_id", request.instance_id()); !check.ok()) return check;
  absl::StatusOr<HostPort> address = ParseAddress("address", request.address());
  if (!address.ok()) return address.status();

  RegisterSpec spec;
  // A map on the wire is a list of entries; as protobuf does, the last entry
  // of a key wins.
  for (const lenient::MetadataEntry& entry : request.metadata()) {
    spec.metadata.emplace_back(entry.key(), entry.value());
  }
  std::stable_sort(spec.metadata.begin(), spec.metadata.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  const auto last_of_each_key = [](const auto& a, const auto& b) { return a.first == b.first; };
  std::reverse(spec.metadata.begin(), spec.metadata.end());
  spec.metadata.erase(std::unique(spec.metadata.begin(), spec.metadata.end(), last_of_each_key),
                      spec.metadata.end());
  std::reverse(spec.metadata.begin(), spec.metadata.end());
  if (absl::Status check = ValidateMetadata("metadata", spec.metadata); !check.ok()) return check;
  spec.service = request.service();
  spec.instance_id = request.instance_id();
  spec.host = std::move(address->host);
  spec.port = address->port;
  spec.ttl = registry.GrantTtl(std::chrono::milliseconds(request.ttl_ms()));
  spec.overloaded = request.overloaded();
  return spec;
}

void RegisterRpc::Handle(RegistryWriter& writer, const Request& request, Reply& reply, const auth::CallerRef& caller,
                         RpcDone done) {
  absl::StatusOr<RegisterSpec> spec = RegisterSpecOf(writer.registry(), request);
  if (!spec.ok()) {
    std::move(done)(ToGrpcStatus(spec.status()));
    return;
  }
  // The request and reply live in the call until it finishes, after `done`.
  writer.Register(*std::move(spec), caller, [&request, &reply, auditor = auth::AuditorOf(caller),
                                             done = std::move(done)](absl::StatusOr<RegisterResult> result) mutable {
    if (auditor) {
      auditor->Audit("register", request.service(), result.ok() ? result->instance_id : request.instance_id(),
                    result.status());
    }
    if (!result.ok()) {
      std::move(done)(ToGrpcStatus(result.status()));
      return;
    }
    log::Debug("registered {}/{} at {} ({}, TTL {}ms)", request.service(), result->instance_id, request.address(),
               result->created ? "new" : "updated", ToWireMillis(result->ttl));
    reply.set_lease_id(result->lease);
    reply.set_ttl_ms(ToWireMillis(result->ttl));
    reply.set_instance_id(std::move(result->instance_id));
    std::move(done)(grpc::Status::OK);
  });
}

}  // namespace registryd
