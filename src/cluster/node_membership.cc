#include "cluster/node_membership.h"

#include "registryd/cluster.pb.h"
#include "core/log.h"

namespace registryd::cluster {
namespace {

constexpr auto kCallTimeout = std::chrono::seconds(2);
constexpr auto kRetryDelay = std::chrono::milliseconds(200);

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::chrono::system_clock::time_point Deadline() { return std::chrono::system_clock::now() + kCallTimeout; }

}  // namespace

NodeMembership::NodeMembership(EtcdEndpoints& endpoints, const EtcdKeys& keys, std::string name,
                               std::string address, Duration node_ttl)
    : endpoints_(endpoints),
      keys_(keys),
      name_(std::move(name)),
      address_(std::move(address)),
      node_ttl_(node_ttl),
      last_contact_ns_(NowNs()) {}

NodeMembership::~NodeMembership() { Leave(); }

void NodeMembership::NoteContact() { last_contact_ns_.store(NowNs(), std::memory_order_release); }

Duration NodeMembership::Silence() const {
  return std::chrono::nanoseconds(NowNs() - last_contact_ns_.load(std::memory_order_acquire));
}

absl::Status NodeMembership::Join() {
  const size_t endpoint = endpoints_.current();
  EtcdEndpoints::Endpoint& etcd = endpoints_.at(endpoint);
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(node_ttl_).count()));
  etcdserverpb::LeaseGrantResponse granted;
  grpc::ClientContext grant_context;
  grant_context.set_deadline(Deadline());
  grpc::Status status = etcd.lease->LeaseGrant(&grant_context, grant, &granted);
  if (status.ok() && !granted.error().empty()) status = grpc::Status(grpc::StatusCode::UNAVAILABLE, granted.error());
  if (!status.ok()) {
    endpoints_.Failed(endpoint);
    return absl::UnavailableError("etcd " + etcd.url + ": cannot grant the node's lease: " + status.error_message());
  }
  StoredNode node;
  node.set_address(address_);
  etcdserverpb::PutRequest put;
  put.set_key(keys_.Node(name_));
  put.set_value(node.SerializeAsString());
  put.set_lease(granted.id());
  etcdserverpb::PutResponse written;
  grpc::ClientContext put_context;
  put_context.set_deadline(Deadline());
  status = etcd.kv->Put(&put_context, put, &written);
  if (!status.ok()) {
    endpoints_.Failed(endpoint);
    return absl::UnavailableError("etcd " + etcd.url + ": cannot write the node's key: " + status.error_message());
  }
  lease_.store(granted.id(), std::memory_order_release);
  NoteContact();
  log::Info("cluster: node {} joined (etcd lease {:x}, TTL {} s)", name_, granted.id(), granted.ttl());
  return absl::OkStatus();
}

void NodeMembership::Start() {
  thread_ = std::thread([this] { Run(); });
}

absl::Status NodeMembership::KeepAlive() {
  const size_t endpoint = endpoints_.current();
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  auto stream = endpoints_.at(endpoint).lease->LeaseKeepAlive(&context);
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(lease_.load(std::memory_order_acquire));
  etcdserverpb::LeaseKeepAliveResponse response;
  const bool answered = stream->Write(request) && stream->Read(&response);
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  if (!answered) {
    endpoints_.Failed(endpoint);
    return absl::UnavailableError(endpoints_.at(endpoint).url + ": " +
                                  (status.ok() ? std::string("no answer") : status.error_message()));
  }
  NoteContact();
  if (response.ttl() <= 0) return absl::NotFoundError("etcd dropped the node's lease");
  return absl::OkStatus();
}

bool NodeMembership::Reachable(Duration patience) {
  const size_t endpoint = endpoints_.current();
  etcdserverpb::RangeRequest request;
  request.set_key(keys_.Node(name_));
  request.set_count_only(true);
  etcdserverpb::RangeResponse response;
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.set_deadline(std::chrono::system_clock::now() + patience);
  if (!endpoints_.at(endpoint).kv->Range(&context, request, &response).ok()) {
    endpoints_.Failed(endpoint);
    return false;
  }
  NoteContact();
  return true;
}

void NodeMembership::Run() {
  const Duration period = node_ttl_ / 3;
  Duration wait = period;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (wake_.wait_for(lock, wait, [this] { return stopping_; })) return;
    }
    absl::Status kept = KeepAlive();
    if (absl::IsNotFound(kept)) {
      // The others took over what this node kept; it joins again as a new member.
      log::Warn("cluster: node {} lost its etcd lease; joining again", name_);
      kept = Join();
    }
    if (!kept.ok()) {
      log::Warn("cluster: node {} cannot renew its etcd lease ({}); silent for {} ms", name_,
                std::string(kept.message()), std::chrono::duration_cast<std::chrono::milliseconds>(Silence()).count());
    }
    wait = kept.ok() ? period : Duration(kRetryDelay);
  }
}

void NodeMembership::Leave() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  const int64_t lease = lease_.exchange(0);
  if (lease == 0) return;
  etcdserverpb::LeaseRevokeRequest revoke;
  revoke.set_id(lease);
  etcdserverpb::LeaseRevokeResponse revoked;
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  const grpc::Status status = endpoints_.Current().lease->LeaseRevoke(&context, revoke, &revoked);
  if (status.ok()) {
    log::Info("cluster: node {} left (its leases go to the other nodes)", name_);
  } else {
    log::Warn("cluster: node {} could not revoke its etcd lease ({}); the others take over within --node-ttl",
              name_, status.error_message());
  }
}

}  // namespace registryd::cluster
