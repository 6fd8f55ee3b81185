#include "cluster/etcd_committer.h"

#include <algorithm>
#include <chrono>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "registryd/cluster.pb.h"
#include "core/log.h"
#include "metrics/thread_metrics.h"

namespace registryd::cluster {

struct EtcdCommitter::Batch {
  etcdserverpb::TxnRequest request;
  std::vector<EtcdWrite> writes;
  std::optional<RemovalReason> reason;  // its deletions': the removal marker goes first
  size_t endpoint = 0;
  std::chrono::steady_clock::time_point sent;
};

EtcdCommitter::EtcdCommitter(EtcdEndpoints& endpoints, ClientQueue& queue, const EtcdKeys& keys,
                             const CommitOptions& options)
    : endpoints_(endpoints), client_queue_(queue), keys_(keys), options_(options) {}

EtcdCommitter::~EtcdCommitter() { Stop(); }

void EtcdCommitter::Submit(EtcdWrite write) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopped_) {
    lock.unlock();
    std::move(write.done)(absl::UnavailableError("etcd: the node is stopping; nothing was written"));
    return;
  }
  queue_.push_back(std::move(write));
  Flush(lock);
}

void EtcdCommitter::Flush(std::unique_lock<std::mutex>& lock) {
  while (in_flight_ < options_.max_txns_in_flight && !queue_.empty()) {
    std::unique_ptr<Batch> batch = TakeBatch();
    ++in_flight_;
    lock.unlock();
    Send(std::move(batch));
    lock.lock();
  }
}

std::unique_ptr<EtcdCommitter::Batch> EtcdCommitter::TakeBatch() {
  auto batch = std::make_unique<Batch>();
  // Never reallocated below (it takes at most this many, all from the
  // queue): the key sets view the keys in place.
  batch->writes.reserve(std::min(options_.max_txn_ops, queue_.size()));
  absl::flat_hash_set<std::string_view> keys;
  absl::flat_hash_set<std::string_view> deferred_keys;  // a key's writes keep their order
  size_t most_compares = 0;  // of the batch's nested Txns
  size_t bytes = 0;
  std::deque<EtcdWrite> later;  // a deque: its elements stay in place as it grows
  // Looks this far into the queue for writes that fit: a queue of many
  // writes to one key costs bounded work per batch.
  size_t budget = 4 * options_.max_txn_ops;
  while (!queue_.empty() && batch->writes.size() < options_.max_txn_ops && budget-- > 0) {
    EtcdWrite& write = queue_.front();
    const size_t size = write.key.size() + write.value.size() + 32;
    const bool is_delete = write.kind == EtcdWrite::Kind::kDelete;
    const bool same_reason = !is_delete || !batch->reason || *batch->reason == write.reason;
    // Within etcd's --max-txn-ops: it counts the removal marker, and holds
    // each nested Txn's compares (one, or two for a write guarded by a
    // session) to what the batch's own operations leave.
    const size_t ops = batch->writes.size() + 1 + (batch->reason || is_delete ? 1 : 0) +
                       std::max(most_compares, write.compares());
    if (ops > options_.max_txn_ops) break;
    if (!same_reason || keys.contains(write.key) || deferred_keys.contains(write.key) ||
        (!batch->writes.empty() && bytes + size > options_.max_txn_bytes)) {
      later.push_back(std::move(write));  // the next batch's
      queue_.pop_front();
      deferred_keys.insert(later.back().key);
      continue;
    }
    if (is_delete) batch->reason = write.reason;
    most_compares = std::max(most_compares, write.compares());
    bytes += size;
    batch->writes.push_back(std::move(write));
    queue_.pop_front();
    keys.insert(batch->writes.back().key);
  }
  for (auto it = later.rbegin(); it != later.rend(); ++it) queue_.push_front(std::move(*it));
  return batch;
}

// Outside the committer's lock: the writes are the batch's alone now.
void EtcdCommitter::BuildRequest(Batch& batch) const {
  etcdserverpb::TxnRequest& request = batch.request;
  if (batch.reason) {
    RemovalMarker marker;
    marker.set_reason(static_cast<uint32_t>(*batch.reason));
    etcdserverpb::PutRequest* put = request.add_success()->mutable_request_put();
    put->set_key(keys_.RemovalMarker());
    put->set_value(marker.SerializeAsString());
  }
  for (EtcdWrite& write : batch.writes) {
    etcdserverpb::RequestOp* op = request.add_success();
    if (write.conditional()) {
      etcdserverpb::TxnRequest* conditional = op->mutable_request_txn();
      const auto require = [&](const std::string& key, int64_t revision) {
        etcdserverpb::Compare* compare = conditional->add_compare();
        compare->set_key(key);
        compare->set_target(etcdserverpb::Compare::MOD);
        compare->set_result(etcdserverpb::Compare::EQUAL);
        compare->set_mod_revision(revision);
      };
      if (write.if_revision) require(write.key, *write.if_revision);
      if (!write.guard_key.empty()) require(write.guard_key, write.guard_revision);
      op = conditional->add_success();
    }
    if (write.kind == EtcdWrite::Kind::kPut) {
      etcdserverpb::PutRequest* put = op->mutable_request_put();
      put->set_key(std::move(write.key));
      put->set_value(std::move(write.value));
      put->set_lease(write.lease);
    } else {
      op->mutable_request_delete_range()->set_key(std::move(write.key));
    }
  }
}

void EtcdCommitter::Send(std::unique_ptr<Batch> batch) {
  BuildRequest(*batch);
  batch->endpoint = endpoints_.current();
  batch->sent = std::chrono::steady_clock::now();
  auto call = std::make_unique<ClientQueue::Unary<etcdserverpb::TxnResponse>>();
  call->context.set_deadline(std::chrono::system_clock::now() + options_.timeout);
  etcdserverpb::KV::Stub& kv = *endpoints_.at(batch->endpoint).kv;
  const etcdserverpb::TxnRequest request = std::move(batch->request);
  call->done = [this, batch = std::move(batch)](ClientQueue::Unary<etcdserverpb::TxnResponse>& done) {
    Complete(*batch, done.status, done.reply);
  };
  client_queue_.Call(std::move(call), [&](grpc::ClientContext* context, grpc::CompletionQueue* cq) {
    return kv.PrepareAsyncTxn(context, request, cq);
  });
}

void EtcdCommitter::Complete(Batch& batch, const grpc::Status& status, const etcdserverpb::TxnResponse& response) {
  metrics::ThreadMetrics& metrics = metrics::Local();  // a serving queue's thread
  metrics::ObserveSince(metrics.etcd_txn, batch.sent);
  metrics.etcd_txn_writes.Observe(metrics::kBatchBounds, batch.writes.size());
  if (!status.ok()) {
    metrics.etcd_txn_failures.Add();
    endpoints_.Failed(batch.endpoint);
    log::Warn("etcd {}: a Txn of {} writes failed: {}", endpoints_.at(batch.endpoint).url, batch.writes.size(),
              status.error_message());
    const absl::Status error = absl::UnavailableError(
        "etcd is unavailable (" + endpoints_.at(batch.endpoint).url + ": " + status.error_message() +
        "): the change was not acknowledged by etcd");
    for (EtcdWrite& write : batch.writes) std::move(write.done)(error);
  } else {
    const int64_t revision = response.header().revision();
    const int offset = batch.reason ? 1 : 0;
    for (size_t i = 0; i < batch.writes.size(); ++i) {
      EtcdWrite& write = batch.writes[i];
      bool applied = true;
      if (write.conditional()) {
        const int index = offset + static_cast<int>(i);
        applied = index < response.responses_size() && response.responses(index).response_txn().succeeded();
      }
      std::move(write.done)(Committed{revision, applied});
    }
  }
  std::unique_lock<std::mutex> lock(mu_);
  --in_flight_;
  if (!stopped_) Flush(lock);
  if (in_flight_ == 0) idle_.notify_all();
}

void EtcdCommitter::Stop() {
  std::deque<EtcdWrite> dropped;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopped_ && in_flight_ == 0 && queue_.empty()) return;
    stopped_ = true;
    dropped.swap(queue_);
  }
  for (EtcdWrite& write : dropped) {
    std::move(write.done)(absl::UnavailableError("etcd: the node is stopping; nothing was written"));
  }
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return in_flight_ == 0; });
}

}  // namespace registryd::cluster
