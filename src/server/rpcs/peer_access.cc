// Who may make a cluster node's Peer calls under a policy.
#include "server/rpcs/peer_rpcs.h"
#include "server/queue/status.h"

namespace registryd {

grpc::Status MayActAsNode(const auth::CallerRef& caller) {
  if (!caller) return grpc::Status::OK;  // no policy
  return ToGrpcStatus(caller->MayOnEveryService(auth::Permission::kAdmin, "make a cluster node's calls for"));
}

}  // namespace registryd
