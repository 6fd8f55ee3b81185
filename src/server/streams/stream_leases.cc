#include "server/streams/stream_leases.h"

#include <fmt/core.h>

#include "core/log.h"
#include "server/queue/status.h"
#include "server/queue/wire_millis.h"

namespace registryd {

registry::v1::KeepAliveResponse StreamLeases::Renew(const registry::v1::KeepAliveRequest& request) {
  if (first_request_) {
    first_request_ = false;
    if (request.bind_to_stream()) bound_stream_ = backend_.bindings.NewStream();
  }
  registry::v1::KeepAliveResponse response;
  response.set_lease_id(request.lease_id());
  if (request.lease_ids_size() > kMaxLeasesPerRequest) {
    response.set_code(grpc::StatusCode::INVALID_ARGUMENT);
    response.set_message(fmt::format("lease_ids: at most {} per request (got {}); none was renewed",
                                     kMaxLeasesPerRequest, request.lease_ids_size()));
    return response;
  }
  if (request.lease_id() != kNoLease || request.lease_ids_size() == 0) {
    RenewOne(request.lease_id(), request.overloaded(), response);
  }
  for (const LeaseId lease : request.lease_ids()) {
    registry::v1::LeaseRenewal& result = *response.add_results();
    result.set_lease_id(lease);
    RenewOne(lease, request.overloaded(), result);
  }
  return response;
}

template <typename Result>
void StreamLeases::RenewOne(LeaseId lease, bool overloaded, Result& result) {
  const auto refuse = [&](grpc::StatusCode code, std::string message) {
    result.set_code(code);
    result.set_message(std::move(message));
  };
  if (lease == kNoLease) return refuse(grpc::StatusCode::INVALID_ARGUMENT, "lease_id: must be set");
  if (bound_stream_ && !bound_leases_.contains(lease) && bound_leases_.size() >= kMaxBoundLeases) {
    return refuse(grpc::StatusCode::RESOURCE_EXHAUSTED,
                  fmt::format("bind_to_stream: a stream holds at most {} leases", kMaxBoundLeases));
  }
  const absl::StatusOr<Duration> ttl = backend_.writer.Heartbeat(lease, overloaded, caller_.get());
  if (!ttl.ok()) {
    if (bound_stream_ && bound_leases_.erase(lease) > 0) {
      (void)backend_.bindings.Release(*bound_stream_, {lease});  // gone: nothing to hold
    }
    const grpc::Status status = ToGrpcStatus(ttl.status());
    return refuse(status.error_code(), status.error_message());
  }
  if (bound_stream_) {
    // Every renewal binds: a lease another bound stream took over comes back
    // to the stream that renews it.
    backend_.bindings.Bind(lease, *bound_stream_);
    bound_leases_.insert(lease);
  }
  result.set_ttl_ms(ToWireMillis(*ttl));
}

void StreamLeases::Release() {
  if (!bound_stream_) return;
  const std::vector<LeaseId> held(bound_leases_.begin(), bound_leases_.end());
  for (const LeaseId lease : backend_.bindings.Release(*bound_stream_, held)) {
    backend_.writer.Deregister(lease, caller_, [lease, caller = caller_](absl::StatusOr<Removal> removed) {
      if (removed.ok()) log::Debug("lease {:016x} removed with its stream", lease);
      if (caller && removed.ok()) caller->Audit("deregister", removed->service, removed->instance_id, removed.status());
    });
  }
  bound_leases_.clear();
}

}  // namespace registryd
