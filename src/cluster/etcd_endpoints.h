// The etcd members a node talks to (--etcd-endpoints), one gRPC channel
// each. Calls go to the current one; a call that fails moves the node on to
// the next, so losing a member (or its connection) costs one failed call.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "etcd/etcdserverpb/rpc.grpc.pb.h"

namespace registryd::cluster {

// PEM contents for https:// endpoints: the CA that signed etcd's
// certificate (empty: the system's roots) and an optional client certificate.
struct EtcdTls {
  std::string ca;
  std::string cert;
  std::string key;
};

class EtcdEndpoints {
 public:
  struct Endpoint {
    std::string url;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  };

  // `urls`: http://host:port or https://host:port. `own_connections`: the
  // channels do not share TCP connections with any other channel of the
  // process (the watch's own, so that a stalled watch stalls nothing else).
  static absl::StatusOr<std::unique_ptr<EtcdEndpoints>> Make(const std::vector<std::string>& urls,
                                                             const EtcdTls& tls, bool own_connections);

  size_t current() const { return current_.load(std::memory_order_acquire); }
  Endpoint& at(size_t index) { return endpoints_[index]; }
  Endpoint& Current() { return endpoints_[current()]; }
  // A call to `index` failed: the next calls go to the next member (unless
  // another failure moved on already).
  void Failed(size_t index);
  size_t size() const { return endpoints_.size(); }
  // Connects the current member's channel within `patience`, moving on to
  // the next member if it cannot. Before the server runs, nothing polls a
  // channel but a call on it, and a call fails at once while its channel
  // backs off: without this, the connection attempts that a node starting
  // beside etcd makes never complete (they time out unpolled), and the node
  // gives up although etcd is up.
  bool ConnectCurrent(std::chrono::milliseconds patience);

 private:
  std::vector<Endpoint> endpoints_;
  std::atomic<size_t> current_{0};
};

}  // namespace registryd::cluster
