// registry.v1.Registry/Heartbeat — renew a lease: the hot path.
#include "metrics/thread_metrics.h"
#include "server/rpcs/native_rpcs.h"
#include "server/queue/status.h"

namespace registryd {

grpc::Status HeartbeatRpc::Handle(RegistryWriter& writer, const Request& request, Reply& reply,
                                  const auth::CallerRef& caller) {
  metrics::Local().Heartbeats(metrics::HeartbeatApi::kNative);
  const absl::StatusOr<Duration> ttl = writer.Heartbeat(request.lease_id(), request.overloaded(), caller.get());
  if (!ttl.ok()) return ToGrpcStatus(ttl.status());
  reply.set_ttl_ms(ToWireMillis(*ttl));
  return grpc::Status::OK;
}

}  // namespace registryd
