// registryd.cluster.Peer/Status — is this node in touch with etcd?
#include "server/rpcs/peer_rpcs.h"

namespace registryd {

grpc::Status PeerStatusRpc::Handle(cluster::Cluster& cluster, const Request&, Reply& reply,
                                   const auth::CallerRef& caller) {
  if (grpc::Status allowed = MayActAsNode(caller); !allowed.ok()) return allowed;
  reply.set_etcd_silence_ms(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(cluster.EtcdSilence()).count()));
  return grpc::Status::OK;
}

}  // namespace registryd
