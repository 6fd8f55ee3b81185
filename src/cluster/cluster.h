// Cluster mode (docs/CLUSTER.md): this node's part in a registry shared by
// several registryd nodes over an etcd cluster. etcd holds the catalog and
// orders every change; each node keeps all of it in memory (the follower),
// writes its changes to etcd (the writer), keeps the leases of the clients
// that registered with it, and takes over those of nodes that are gone.
//
// Threads of its own: the follower's watch, the membership's keep-alive,
// the peer links' forwarding, and the monitor, which checks that the node
// is in touch with etcd and up to date with it, and takes leases over.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/security/credentials.h>

#include "absl/status/status.h"
#include "cluster/catalog_follower.h"
#include "cluster/client_queue.h"
#include "cluster/cluster_writer.h"
#include "cluster/etcd_committer.h"
#include "cluster/etcd_endpoints.h"
#include "cluster/etcd_keys.h"
#include "cluster/node_membership.h"
#include "cluster/node_table.h"
#include "cluster/peer_links.h"
#include "cluster/view_proof.h"
#include "core/registry.h"

namespace registryd::cluster {

struct ClusterOptions {
  std::vector<std::string> etcd_endpoints;
  // Where the follower watches from (default: etcd_endpoints), over
  // connections of its own.
  std::vector<std::string> watch_endpoints;
  EtcdTls etcd_tls;
  std::string prefix = "/registryd/";
  std::string node_name;  // unique in the cluster
  std::string address;    // where the other nodes reach this one
  // A node silent this long loses its leases to the others.
  Duration node_ttl = std::chrono::seconds(10);
  // A view of the catalog that cannot be shown current within this long is
  // reported (health NOT_SERVING, a log line) and its watch started again.
  Duration max_staleness = std::chrono::seconds(5);
  // The monitor waking this late (the process paused: --stall-threshold)
  // leaves the view unvouched for until a fresh beacon shows the watch
  // caught up.
  Duration stall_threshold = std::chrono::milliseconds(500);
  Duration forward_interval = std::chrono::milliseconds(100);
  CommitOptions commit;
  // Sent with this node's Peer calls (--peer-token-file): under a policy
  // with bearer tokens, the other nodes need its identity to have admin on
  // every service. Empty: none (under mTLS the node's certificate names it).
  std::string peer_token;
};

class Cluster final : public NodeEvents {
 public:
  // `on_serving` is told whether the node should be in rotation: not while
  // cut off from etcd, nor while its view is older than max_staleness.
  Cluster(Registry& registry, ClusterOptions options, std::shared_ptr<grpc::ChannelCredentials> peer_credentials,
          std::function<void(bool serving)> on_serving);
  ~Cluster() override;
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Loads the catalog and joins (blocking).
  absl::Status Start();
  // Follows etcd, forwards renewals and watches over the node, with its
  // calls completing on the serving queues (client_queue.h).
  void Serve(std::vector<grpc::CompletionQueue*> queues);
  // Leaves the cluster (the others take over this node's leases at once) and
  // stops; before the serving queues shut down (its calls complete there).
  void Stop();

  RegistryWriter& writer() { return *writer_; }
  const ClusterOptions& options() const { return options_; }

  // The Peer service. Renews the leases kept here; returns the others.
  std::vector<LeaseId> RenewHeld(const std::vector<LeaseId>& leases);
  Duration EtcdSilence() const { return membership_->Silence(); }
  // How far behind etcd this node's view is: the last beacon's way from its
  // commit back through the watch, or longer while one committed has not
  // come back.
  Duration WatchLag();
  // Times the node had to show its watch current again before it served:
  // awake from a stall, and back in touch after a cut-off.
  uint64_t catch_ups_after_stalls() const { return catch_ups_after_stalls_.load(std::memory_order_relaxed); }
  uint64_t catch_ups_after_cut_offs() const { return catch_ups_after_cut_offs_.load(std::memory_order_relaxed); }
  // Leases and sessions not found here answered UNAVAILABLE, not NOT_FOUND,
  // because the node could not vouch for its view.
  uint64_t unvouched_answers() const { return writer_->unvouched_answers(); }
  // The other live nodes' addresses.
  std::vector<std::string> PeerAddresses() const { return nodes_->PeerAddresses(); }


  void OnNodeGone(const std::string& name) override;

 private:
  void Monitor();
  // Writes a beacon and times its way back through the watch: whether the
  // follower is current (and etcd in touch).
  void CheckEtcd();
  void CheckCutOff();
  // Tells the writer until when this node vouches for its view: a stall
  // threshold and a monitor period past a check that found it current;
  // never while it is stale or catching up.
  void VouchForView(std::chrono::steady_clock::time_point until);
  // How far past a check that found the view current the node vouches for it.
  Duration VouchBound() const;
  // The watch must show itself current again (a fresh beacon) before the
  // node serves and vouches for its view.
  void CatchUp();
  // Wakes the monitor to send a beacon (ViewProof's `want_beacon`).
  void WantBeacon();
  // Takes over the leases whose holder is gone and that fall to this node.
  void TakeOver();
  void SetServing();

  Registry& registry_;
  const ClusterOptions options_;
  const std::shared_ptr<grpc::ChannelCredentials> peer_credentials_;
  const std::function<void(bool)> on_serving_;
  EtcdKeys keys_;
  ClientQueue client_queue_;  // every call of the parts below is over before it goes
  std::unique_ptr<EtcdEndpoints> endpoints_;
  std::unique_ptr<EtcdEndpoints> watch_endpoints_;
  std::unique_ptr<NodeTable> nodes_;
  std::unique_ptr<EtcdCommitter> committer_;
  std::unique_ptr<CatalogFollower> follower_;
  std::unique_ptr<NodeMembership> membership_;
  std::unique_ptr<PeerLinks> peers_;
  std::unique_ptr<ViewProof> proof_;
  std::unique_ptr<ClusterWriter> writer_;

  // Monitor state (its thread only, but for the flags).
  std::atomic<bool> take_over_{true};
  // A question waits for a beacon (ViewProof): the monitor sends one at once,
  // unless one is under way, or failed within the monitor's period (until
  // this steady_clock time).
  std::atomic<bool> beacon_wanted_{false};
  std::atomic<bool> beacon_under_way_{false};
  std::atomic<std::chrono::steady_clock::rep> beacons_wanted_from_ns_{0};
  std::chrono::steady_clock::time_point last_restart_;
  // The beacon under way: when it was sent, and when etcd acknowledged it
  // (0: not yet); the watch bringing it back clears it. Guarded by beacon_mu_.
  std::mutex beacon_mu_;
  std::optional<std::chrono::steady_clock::time_point> beacon_sent_;
  std::optional<std::chrono::steady_clock::time_point> beacon_committed_;
  std::chrono::steady_clock::time_point last_beacon_;
  Duration last_beacon_lag_{0};
  bool seen_beacon_ = false;
  // Beacons sent before a cut-off ended say nothing about the watch after it.
  uint64_t beacon_generation_ = 0;
  std::atomic<uint64_t> catch_ups_after_stalls_{0};
  std::atomic<uint64_t> catch_ups_after_cut_offs_{0};
  bool catching_up_ = false;  // monitor thread only: back in touch or awake, the watch not yet shown current
  std::chrono::steady_clock::time_point last_peer_check_;
  // When this node last failed to reach etcd itself, in this silence (none
  // yet: it has not tried).
  std::optional<std::chrono::steady_clock::time_point> unreachable_at_;
  std::chrono::steady_clock::time_point last_sweep_;
  bool stale_ = false;
  std::optional<bool> serving_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread monitor_;
};

}  // namespace registryd::cluster
