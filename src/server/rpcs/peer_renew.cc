// registryd.cluster.Peer/Renew — renewals forwarded by another node.
#include "metrics/thread_metrics.h"
#include "server/rpcs/peer_rpcs.h"

namespace registryd {

grpc::Status PeerRenewRpc::Handle(cluster::Cluster& cluster, const Request& request, Reply& reply,
                                  const auth::CallerRef& caller) {
  if (grpc::Status allowed = MayActAsNode(caller); !allowed.ok()) return allowed;
  const std::vector<LeaseId> leases(request.lease_ids().begin(), request.lease_ids().end());
  metrics::Local().Heartbeats(metrics::HeartbeatApi::kForwarded, leases.size());
  for (const LeaseId lease : cluster.RenewHeld(leases)) reply.add_not_held(lease);
  return grpc::Status::OK;
}

}  // namespace registryd
