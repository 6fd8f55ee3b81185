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
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/support/async_stream.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "cluster/client_queue.h"
#include "cluster/etcd_endpoints.h"
#include "cluster/etcd_keys.h"
#include "cluster/node_table.h"
#include "cluster/view_proof.h"
#include "core/clock.h"
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

  // The watch runs on `queue` (the serving queues); the follower's thread
  // applies what it reads.
  // `proof` learns every lease and session removed. `session_handover`: what
  // a session that comes to be held here waits beyond its TTL
  // (SessionTable::Apply).
  CatalogFollower(Registry& registry, EtcdEndpoints& endpoints, ClientQueue& queue, const EtcdKeys& keys,
                  NodeTable& nodes, NodeEvents& events, ViewProof& proof, Duration session_handover);
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
  // follower stops first, `done(false)`. `patience`: when set, `done(true)`
  // after that long anyway (the revision of a write that changed nothing
  // under the prefix may never be seen: see ExpireWaiters).
  void WhenApplied(int64_t revision, absl::AnyInvocable<void(bool applied) &&> done,
                   std::optional<Duration> patience = std::nullopt);
  // Gives up on the waiters whose patience ran out (called every so often).
  void ExpireWaiters();
  int64_t applied_revision() const { return applied_.load(std::memory_order_acquire); }
  // Drops the watch and starts it again on the next endpoint.
  void Restart();

 private:
  // The ranges Load pages through, each kind whole or by bucket as its size
  // (counted at `revision`, set from the first count when 0) asks.
  absl::StatusOr<std::vector<EtcdKeys::Range>> PlanLoad(int64_t& revision);
  // One Range of the load on the current endpoint (passed over next time
  // when it fails): UNAVAILABLE naming it and etcd's message.
  absl::Status LoadRange(const etcdserverpb::RangeRequest& request, etcdserverpb::RangeResponse& response);
  using Stream = grpc::ClientAsyncReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>;
  // A step of the watch stream, completed on a serving queue and handed to
  // the follower's thread.
  enum class Op { kStart, kWrite, kRead, kFinish, kCount };
  class StepDone final : public QueueEvent {
   public:
    StepDone(CatalogFollower& follower, Op op) : follower_(follower), op_(op) {}
    void Proceed(bool ok) override { follower_.Completed(op_, ok); }

   private:
    CatalogFollower& follower_;
    Op op_;
  };
  void Completed(Op op, bool ok);

  void Run();
  // One watch stream, from applied_ + 1, until it fails or is cancelled;
  // false when etcd compacted the history it needs (reload).
  bool Watch();
  // Waits for `op` to complete; false when it failed.
  bool Await(Op op);
  void ApplyPut(const mvccpb::KeyValue& kv, bool quiet);
  void ApplyDelete(const mvccpb::KeyValue& kv, bool quiet);
  void SetApplied(int64_t revision);
  void ReleaseWaiters(bool applied);

  Registry& registry_;
  EtcdEndpoints& endpoints_;
  const EtcdKeys& keys_;
  NodeTable& nodes_;
  NodeEvents& events_;
  ViewProof& proof_;
  const Duration session_handover_;

  std::atomic<int64_t> applied_{0};
  int64_t event_revision_ = 0;  // the etcd revision whose events are being applied
  RemovalReason removal_reason_ = RemovalReason::kDeregistered;

  struct Waiter {
    int64_t revision;
    absl::AnyInvocable<void(bool) &&> done;
    std::chrono::steady_clock::time_point give_up;
  };
  std::mutex waiters_mu_;
  bool waiters_stopped_ = false;  // guarded by waiters_mu_: Stop() ran
  std::vector<Waiter> waiters_;

  ClientQueue& queue_;
  StepDone steps_[static_cast<int>(Op::kCount)] = {
      {*this, Op::kStart}, {*this, Op::kWrite}, {*this, Op::kRead}, {*this, Op::kFinish}};
  std::mutex steps_mu_;
  std::condition_variable step_done_;
  std::optional<bool> outcome_[static_cast<int>(Op::kCount)];  // guarded by steps_mu_
  std::mutex stream_mu_;
  grpc::ClientContext* context_ = nullptr;  // the open stream's, to cancel it
  bool stopping_ = false;  // guarded by stream_mu_
  std::thread thread_;
};

}  // namespace registryd::cluster
