// This node's presence in the cluster: its key <prefix>nodes/<name>, bound
// to an etcd lease of --node-ttl that the node keeps alive. When the node
// dies or loses etcd for longer, etcd drops the key and the other nodes
// take over the leases it kept. A clean stop revokes the lease, so the
// others take over at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "cluster/etcd_endpoints.h"
#include "cluster/etcd_keys.h"
#include "core/clock.h"

namespace registryd::cluster {

class NodeMembership {
 public:
  NodeMembership(EtcdEndpoints& endpoints, const EtcdKeys& keys, std::string name, std::string address,
                 Duration node_ttl);
  ~NodeMembership();
  NodeMembership(const NodeMembership&) = delete;
  NodeMembership& operator=(const NodeMembership&) = delete;

  // Grants the node's lease and writes its key (blocking).
  absl::Status Join();
  // Keeps the lease alive on a thread of its own (a renewal every third of
  // the TTL); joins again when etcd dropped the lease.
  void Start();
  // Revokes the lease (the key goes with it) and stops.
  void Leave();

  // The node's etcd lease (0 before it joined).
  int64_t lease() const { return lease_.load(std::memory_order_acquire); }
  // Etcd answered this node (any call): the silence is measured from here.
  void NoteContact();
  Duration Silence() const;
  // Asks etcd for a linearizable read (answered only with a leader and a
  // quorum), waiting up to `patience` for a connection: true (and the
  // contact noted) if it answered. It blocks: the cluster's monitor thread
  // calls it (Cluster::CheckCutOff), never a queue thread.
  bool Reachable(Duration patience);

 private:
  void Run();
  absl::Status KeepAlive();

  EtcdEndpoints& endpoints_;
  const EtcdKeys& keys_;
  const std::string name_;
  const std::string address_;
  const Duration node_ttl_;
  std::atomic<int64_t> lease_{0};
  std::atomic<int64_t> last_contact_ns_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace registryd::cluster
