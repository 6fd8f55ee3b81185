// Calls from this node to the others (cluster.proto's Peer service): the
// renewals of leases another node keeps, sent in batches, and the question
// "are you in touch with etcd?".
//
// A heartbeat for a lease kept by another node is answered here from memory
// and queued (Add: one short lock, no allocation once the buffer grew);
// every --forward-interval the queued renewals go to their holders, one call
// per holder. A holder that cannot be reached gives its leases up: they are
// handed to `on_unreachable`, which takes them over through etcd, so a
// client that moved here is never expired by a node it cannot reach.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/security/credentials.h>

#include "absl/container/flat_hash_map.h"
#include "cluster/client_queue.h"
#include "registryd/cluster.grpc.pb.h"
#include "cluster/node_table.h"
#include "core/clock.h"
#include "core/lease_id.h"

namespace registryd::cluster {

class PeerLinks {
 public:
  // How long a call to another node may take.
  static constexpr auto kCallTimeout = std::chrono::milliseconds(800);

  PeerLinks(NodeTable& nodes, ClientQueue& queue, Duration forward_interval,
            std::shared_ptr<grpc::ChannelCredentials> credentials, const std::string& bearer_token,
            std::function<void(std::vector<LeaseId>)> on_unreachable);
  ~PeerLinks();
  PeerLinks(const PeerLinks&) = delete;
  PeerLinks& operator=(const PeerLinks&) = delete;

  void Start();
  void Stop();

  // Queues a renewal for the node in `holder`'s slot.
  void Add(NodeSlot holder, LeaseId lease);

  struct EtcdContact {
    size_t asked = 0;     // live peers asked
    size_t answered = 0;  // peers that answered
    size_t in_touch = 0;  // of those, how many heard from etcd within the bound
  };
  // Asks every live peer how long it has not heard from etcd (blocking, for
  // at most about a second).
  EtcdContact AskEtcdContact(Duration bound);

 private:
  struct Pending {
    std::mutex mu;
    std::vector<LeaseId> leases;
  };
  void Run();
  void SendAll();
  Peer::Stub& StubFor(const std::string& address);
  // A call's deadline, and the node's bearer token if it has one.
  void Prepare(grpc::ClientContext& context) const;

  NodeTable& nodes_;
  ClientQueue& queue_;
  const Duration interval_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  const std::string authorization_;  // "Bearer <token>", or empty
  const std::function<void(std::vector<LeaseId>)> on_unreachable_;
  std::array<Pending, 256> pending_;  // by holder slot

  std::mutex stubs_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Peer::Stub>> stubs_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace registryd::cluster
