// The cluster's node-to-node calls (cluster.proto's Peer service), each run
// by UnaryCall<Rpc, cluster::Cluster> on the queues like every RPC. Under a
// policy, only a caller with admin on every service may make them: a node's
// identity (its certificate's, or its --peer-token-file token's). A Renew
// does nothing such a caller could not do through Heartbeat.
#pragma once

#include <string_view>

#include <grpcpp/support/status.h>

#include "auth/caller.h"
#include "registryd/cluster.grpc.pb.h"
#include "cluster/cluster.h"

namespace registryd {

using PeerService = cluster::Peer::AsyncService;

// registryd.cluster.Peer/Renew: heartbeats another node answered for leases kept here.
struct PeerRenewRpc {
  using Service = PeerService;
  using Request = cluster::RenewRequest;
  using Reply = cluster::RenewResponse;
  static constexpr auto kRequest = &Service::RequestRenew;
  static constexpr std::string_view kName = "registryd.cluster.Peer/Renew";
  static constexpr bool kAuthorized = true;
  static grpc::Status Handle(cluster::Cluster& cluster, const Request& request, Reply& reply,
                             const auth::CallerRef& caller);
};

// registryd.cluster.Peer/Status: how long since this node heard from etcd.
struct PeerStatusRpc {
  using Service = PeerService;
  using Request = cluster::StatusRequest;
  using Reply = cluster::StatusResponse;
  static constexpr auto kRequest = &Service::RequestStatus;
  static constexpr std::string_view kName = "registryd.cluster.Peer/Status";
  static constexpr bool kAuthorized = true;
  static grpc::Status Handle(cluster::Cluster& cluster, const Request& request, Reply& reply,
                             const auth::CallerRef& caller);
};

// Under a policy: whether `caller` may make the Peer calls of a cluster node.
grpc::Status MayActAsNode(const auth::CallerRef& caller);

}  // namespace registryd
