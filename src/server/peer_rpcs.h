// The cluster's node-to-node calls (cluster.proto's Peer service), each run
// by UnaryCall<Rpc, cluster::Cluster> on the queues like every RPC.
#pragma once

#include <string_view>

#include <grpcpp/support/status.h>

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
  static grpc::Status Handle(cluster::Cluster& cluster, const Request& request, Reply& reply);
};

// registryd.cluster.Peer/Status: how long since this node heard from etcd.
struct PeerStatusRpc {
  using Service = PeerService;
  using Request = cluster::StatusRequest;
  using Reply = cluster::StatusResponse;
  static constexpr auto kRequest = &Service::RequestStatus;
  static constexpr std::string_view kName = "registryd.cluster.Peer/Status";
  static grpc::Status Handle(cluster::Cluster& cluster, const Request& request, Reply& reply);
};

}  // namespace registryd
