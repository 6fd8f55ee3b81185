// Keeps this node's registry a copy of the catalog in etcd: loads it (in
// pages, at one revision), then follows it with one etcd Watch of the whole
// prefix, applying every change in etcd's order on one thread of its own.
//
// Revisions: etcd's revision R becomes the registry's R << 16, and the
// changes of one etcd revision (one Txn) take R << 16 + 1, + 2, ... in the
// order of its events. Every node sees the same events in the same order,
// so every node gives a change the same revision: a Watch client can resume
// on any node.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "cluster/etcd_endpoints.h"
#include "cluster/etcd_keys.h"
#include "cluster/node_table.h"
#include "core/registry.h"

namespace registryd::cluster {

// What the follower tells the cluster about nodes.
class NodeEvents {
 public:
  virtual ~NodeEvents() = default;
  virtual void OnNodeGone(const std::string& name) = 0;
};

class CatalogFollower {
 public:
  static constexpr int64_t kPageSize = 1000;  // keys per Range while loading

  CatalogFollower(Registry& registry, EtcdEndpoints& endpoints, const EtcdKeys& keys, NodeTable& nodes,
                  NodeEvents& events);
  ~CatalogFollower();
  CatalogFollower(const CatalogFollower&) = delete;
  CatalogFollower& operator=(const CatalogFollower&) = delete;

  // Loads the whole catalog (blocking); the registry's history starts after it.
  absl::Status Load();
  // Follows etcd from the loaded revision on the follower's thread.
  void Start();
  void Stop();

  // Runs `done` once the changes up to etcd revision `revision` are applied
  // here: on the follower's thread, or at once on the caller's. When the
  // follower stops first, `done(false)`.
  void WhenApplied(int64_t revision, absl::AnyInvocable<void(bool applied) &&> done);
  int64_t applied_revision() const { return applied_.load(std::memory_order_acquire); }
  // Asks etcd to tell the watch how far it is (a progress notification):
  // the applied revision then reaches etcd's even when nothing under the
  // prefix changed.
  void RequestProgress();
  // Drops the watch and starts it again on the next endpoint.
  void Restart();
  uint64_t reloads() const { return reloads_.load(std::memory_order_relaxed); }

 private:
  using Stream = grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>;

  void Run();
  // One watch stream, from applied_ + 1, until it fails or is cancelled;
  // false when etcd compacted the history it needs (reload).
  bool Watch();
  void ApplyPut(const mvccpb::KeyValue& kv, bool quiet);
  void ApplyDelete(const mvccpb::KeyValue& kv, bool quiet);
  void SetApplied(int64_t revision);
  void ReleaseWaiters(bool applied);

  Registry& registry_;
  EtcdEndpoints& endpoints_;
  const EtcdKeys& keys_;
  NodeTable& nodes_;
  NodeEvents& events_;

  std::atomic<int64_t> applied_{0};
  int64_t event_revision_ = 0;  // the etcd revision whose events are being applied
  RemovalReason removal_reason_ = RemovalReason::kDeregistered;
  std::atomic<uint64_t> reloads_{0};

  struct Waiter {
    int64_t revision;
    absl::AnyInvocable<void(bool) &&> done;
  };
  std::mutex waiters_mu_;
  std::vector<Waiter> waiters_;

  std::mutex stream_mu_;
  grpc::ClientContext* context_ = nullptr;  // the open stream's, to cancel it
  Stream* stream_ = nullptr;
  bool stopping_ = false;  // guarded by stream_mu_
  std::thread thread_;
};

}  // namespace registryd::cluster
