// Group commit to etcd: writes from every queue thread are queued and sent
// as Txns of many operations (up to --etcd-max-txn-ops and a byte budget,
// within etcd's --max-txn-ops and --max-request-bytes), several Txns in
// flight, completing on the cluster's client queue.
//
// A conditional write ("only if the key's mod_revision is still R") is a
// nested Txn of its own inside the batch, so one write's failed condition
// leaves the others of its batch alone. A batch holds each key once, and
// its deletions share one reason, written once in the batch (the removal
// marker) so that every node's follower can tell an expiry from a
// deregistration.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "cluster/client_queue.h"
#include "cluster/etcd_endpoints.h"
#include "cluster/etcd_keys.h"
#include "core/change.h"

namespace registryd::cluster {

struct CommitOptions {
  size_t max_txn_ops = 128;              // etcd's --max-txn-ops default
  size_t max_txn_bytes = 1 << 20;         // below etcd's 1.5 MiB --max-request-bytes default
  int max_txns_in_flight = 2;
  std::chrono::milliseconds timeout{5000};  // a Txn etcd has not answered by then fails
};

// The outcome of a committed write: the Txn's revision, and whether its
// condition held (always true for unconditional writes).
struct Committed {
  int64_t revision;
  bool applied;
};

struct EtcdWrite {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;  // kPut
  int64_t lease = 0;  // kPut: the etcd lease the key lives as long as
  // Only if the key's mod_revision is this (0: the key does not exist).
  std::optional<int64_t> if_revision;
  // And only if this other key's mod_revision is guard_revision (empty: no
  // guard): an instance goes into a session only as the writer saw it.
  std::string guard_key;
  int64_t guard_revision = 0;
  RemovalReason reason = RemovalReason::kNone;  // kDelete
  // UNAVAILABLE naming etcd when the Txn failed or timed out. Called once,
  // whatever happened; nothing unless set.
  absl::AnyInvocable<void(absl::StatusOr<Committed>) &&> done = [](absl::StatusOr<Committed>) {};

  bool conditional() const { return if_revision.has_value() || !guard_key.empty(); }
  // The compares of its nested Txn (etcd counts them against --max-txn-ops).
  size_t compares() const { return (if_revision ? 1 : 0) + (guard_key.empty() ? 0 : 1); }
};

class EtcdCommitter {
 public:
  EtcdCommitter(EtcdEndpoints& endpoints, ClientQueue& queue, const EtcdKeys& keys, const CommitOptions& options);
  ~EtcdCommitter();
  EtcdCommitter(const EtcdCommitter&) = delete;
  EtcdCommitter& operator=(const EtcdCommitter&) = delete;

  void Submit(EtcdWrite write);
  // Fails what is queued, waits for the Txns in flight; later writes fail at once.
  void Stop();


 private:
  struct Batch;
  // Sends Txns while some are queued and fewer than the maximum fly.
  void Flush(std::unique_lock<std::mutex>& lock);
  // Takes the next batch's writes off the queue (under mu_).
  std::unique_ptr<Batch> TakeBatch();
  void BuildRequest(Batch& batch) const;
  void Send(std::unique_ptr<Batch> batch);
  void Complete(Batch& batch, const grpc::Status& status, const etcdserverpb::TxnResponse& response);

  EtcdEndpoints& endpoints_;
  ClientQueue& client_queue_;
  const EtcdKeys& keys_;
  const CommitOptions options_;
  mutable std::mutex mu_;
  std::condition_variable idle_;
  std::deque<EtcdWrite> queue_;
  int in_flight_ = 0;
  bool stopped_ = false;
};

}  // namespace registryd::cluster
