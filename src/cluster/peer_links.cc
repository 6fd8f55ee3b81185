#include "cluster/peer_links.h"

#include <algorithm>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>

#include "core/log.h"

namespace registryd::cluster {
namespace {

// Counts down the calls of one round, whose answers come on the serving queues' threads.
class Latch {
 public:
  explicit Latch(size_t count) : count_(count) {}
  void CountDown() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--count_ == 0) done_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return count_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable done_;
  size_t count_;
};

}  // namespace

PeerLinks::PeerLinks(NodeTable& nodes, ClientQueue& queue, Duration forward_interval,
                     std::shared_ptr<grpc::ChannelCredentials> credentials, const std::string& bearer_token,
                     std::function<void(std::vector<LeaseId>)> on_unreachable)
    : nodes_(nodes),
      queue_(queue),
      interval_(forward_interval),
      credentials_(std::move(credentials)),
      authorization_(bearer_token.empty() ? std::string() : "Bearer " + bearer_token),
      on_unreachable_(std::move(on_unreachable)) {}

void PeerLinks::Prepare(grpc::ClientContext& context) const {
  context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  if (!authorization_.empty()) context.AddMetadata("authorization", authorization_);
}

PeerLinks::~PeerLinks() { Stop(); }

void PeerLinks::Start() {
  thread_ = std::thread([this] { Run(); });
}

void PeerLinks::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeerLinks::Add(NodeSlot holder, LeaseId lease) {
  Pending& pending = pending_[holder];
  std::lock_guard<std::mutex> lock(pending.mu);
  pending.leases.push_back(lease);
}

Peer::Stub& PeerLinks::StubFor(const std::string& address) {
  std::lock_guard<std::mutex> lock(stubs_mu_);
  std::unique_ptr<Peer::Stub>& stub = stubs_[address];
  if (stub == nullptr) {
    // Quick retries after a failed connection; but gRPC's minimum
    // connect timeout (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS) stays its 20 s:
    // at 100 ms a handshake that took longer (TLS on a busy node) was
    // abandoned, again and again, and the node took over leases it could
    // have forwarded. Each call's own deadline still bounds a forward.
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    stub = Peer::NewStub(grpc::CreateCustomChannel(address, credentials_, arguments));
  }
  return *stub;
}

void PeerLinks::Run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (wake_.wait_for(lock, interval_, [this] { return stopping_; })) return;
    }
    SendAll();
  }
}

void PeerLinks::SendAll() {
  struct Batch {
    NodeSlot holder;
    std::vector<LeaseId> leases;
    grpc::Status status;
  };
  std::vector<Batch> batches;
  std::vector<LeaseId> unreachable;
  for (size_t slot = 1; slot < pending_.size(); ++slot) {
    std::vector<LeaseId> leases;
    {
      std::lock_guard<std::mutex> lock(pending_[slot].mu);
      if (pending_[slot].leases.empty()) continue;
      leases.swap(pending_[slot].leases);
      pending_[slot].leases.reserve(leases.size());
    }
    std::sort(leases.begin(), leases.end());
    leases.erase(std::unique(leases.begin(), leases.end()), leases.end());
    batches.push_back(Batch{static_cast<NodeSlot>(slot), std::move(leases), grpc::Status::OK});
  }
  Latch latch(batches.size());
  for (Batch& batch : batches) {
    const std::optional<std::string> address = nodes_.AddressOf(batch.holder);
    if (!address) {
      batch.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the node is gone");
      latch.CountDown();
      continue;
    }
    RenewRequest request;
    request.mutable_lease_ids()->Assign(batch.leases.begin(), batch.leases.end());
    auto call = std::make_unique<ClientQueue::Unary<RenewResponse>>();
    Prepare(call->context);
    call->done = [&batch, &latch](ClientQueue::Unary<RenewResponse>& done) {
      batch.status = done.status;
      latch.CountDown();
    };
    Peer::Stub& stub = StubFor(*address);
    queue_.Call(std::move(call), [&](grpc::ClientContext* context, grpc::CompletionQueue* cq) {
      return stub.PrepareAsyncRenew(context, request, cq);
    });
  }
  latch.Wait();
  for (Batch& batch : batches) {
    if (batch.status.ok()) continue;
    log::Warn("cluster: node {} did not take {} renewals ({}); this node takes those leases over",
              nodes_.NameOf(batch.holder), batch.leases.size(), batch.status.error_message());
    unreachable.insert(unreachable.end(), batch.leases.begin(), batch.leases.end());
  }
  if (!unreachable.empty()) on_unreachable_(std::move(unreachable));
}

PeerLinks::EtcdContact PeerLinks::AskEtcdContact(Duration bound) {
  const std::vector<std::string> peers = nodes_.PeerAddresses();
  const auto bound_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(bound).count());
  EtcdContact contact;
  contact.asked = peers.size();
  std::mutex mu;
  Latch latch(peers.size());
  for (const std::string& address : peers) {
    auto call = std::make_unique<ClientQueue::Unary<StatusResponse>>();
    Prepare(call->context);
    call->done = [&](ClientQueue::Unary<StatusResponse>& done) {
      if (done.status.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        ++contact.answered;
        if (done.reply.etcd_silence_ms() < bound_ms) ++contact.in_touch;
      }
      latch.CountDown();
    };
    Peer::Stub& stub = StubFor(address);
    queue_.Call(std::move(call), [&](grpc::ClientContext* context, grpc::CompletionQueue* cq) {
      return stub.PrepareAsyncStatus(context, StatusRequest(), cq);
    });
  }
  latch.Wait();
  std::lock_guard<std::mutex> lock(mu);
  return contact;
}

}  // namespace registryd::cluster
