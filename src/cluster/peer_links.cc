#include "cluster/peer_links.h"

#include <algorithm>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>

#include "core/log.h"

namespace registryd::cluster {
namespace {

constexpr auto kPeerTimeout = std::chrono::milliseconds(800);

// Counts down the calls of one round, whose callbacks come on gRPC's threads.
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

PeerLinks::PeerLinks(NodeTable& nodes, Duration forward_interval,
                     std::shared_ptr<grpc::ChannelCredentials> credentials,
                     std::function<void(std::vector<LeaseId>)> on_unreachable)
    : nodes_(nodes),
      interval_(forward_interval),
      credentials_(std::move(credentials)),
      on_unreachable_(std::move(on_unreachable)) {}

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
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
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
  struct Call {
    NodeSlot holder;
    std::string address;
    grpc::ClientContext context;
    RenewRequest request;
    RenewResponse response;
    grpc::Status status;
    bool sent = false;
  };
  std::vector<std::unique_ptr<Call>> calls;
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
    const std::optional<std::string> address = nodes_.AddressOf(static_cast<NodeSlot>(slot));
    if (!address) {
      unreachable.insert(unreachable.end(), leases.begin(), leases.end());
      continue;
    }
    auto call = std::make_unique<Call>();
    call->holder = static_cast<NodeSlot>(slot);
    call->address = *address;
    call->context.set_deadline(std::chrono::system_clock::now() + kPeerTimeout);
    call->request.mutable_lease_ids()->Assign(leases.begin(), leases.end());
    calls.push_back(std::move(call));
  }
  Latch latch(calls.size());
  for (const auto& call : calls) {
    Call* raw = call.get();
    StubFor(raw->address).async()->Renew(&raw->context, &raw->request, &raw->response,
                                         [raw, &latch](grpc::Status status) {
                                           raw->status = std::move(status);
                                           latch.CountDown();
                                         });
  }
  if (!calls.empty()) latch.Wait();
  for (const auto& call : calls) {
    if (call->status.ok()) {
      renewals_sent_.fetch_add(static_cast<uint64_t>(call->request.lease_ids_size()), std::memory_order_relaxed);
      continue;
    }
    log::Warn("cluster: node {} did not take {} renewals ({}); this node takes those leases over",
              nodes_.NameOf(call->holder), call->request.lease_ids_size(), call->status.error_message());
    unreachable.insert(unreachable.end(), call->request.lease_ids().begin(), call->request.lease_ids().end());
  }
  if (!unreachable.empty()) on_unreachable_(std::move(unreachable));
}

PeerLinks::EtcdContact PeerLinks::AskEtcdContact(Duration bound) {
  const std::vector<std::string> peers = nodes_.PeerAddresses();
  struct Call {
    grpc::ClientContext context;
    StatusRequest request;
    StatusResponse response;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  Latch latch(peers.size());
  for (const std::string& address : peers) {
    auto call = std::make_unique<Call>();
    call->context.set_deadline(std::chrono::system_clock::now() + kPeerTimeout);
    Call* raw = call.get();
    calls.push_back(std::move(call));
    StubFor(address).async()->Status(&raw->context, &raw->request, &raw->response, [raw, &latch](grpc::Status status) {
      raw->status = std::move(status);
      latch.CountDown();
    });
  }
  if (!peers.empty()) latch.Wait();
  EtcdContact contact;
  contact.asked = peers.size();
  const auto bound_ms = std::chrono::duration_cast<std::chrono::milliseconds>(bound).count();
  for (const auto& call : calls) {
    if (!call->status.ok()) continue;
    ++contact.answered;
    if (call->response.etcd_silence_ms() < static_cast<uint64_t>(bound_ms)) ++contact.in_touch;
  }
  return contact;
}

}  // namespace registryd::cluster
