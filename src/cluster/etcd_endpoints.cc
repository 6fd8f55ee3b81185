#include "cluster/etcd_endpoints.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace registryd::cluster {

absl::StatusOr<std::unique_ptr<EtcdEndpoints>> EtcdEndpoints::Make(const std::vector<std::string>& urls,
                                                                   const EtcdTls& tls, bool own_connections) {
  if (urls.empty()) return absl::InvalidArgumentError("--etcd-endpoints: at least one endpoint is needed");
  auto endpoints = std::make_unique<EtcdEndpoints>();
  for (const std::string& url : urls) {
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    std::string target;
    if (url.starts_with("http://")) {
      target = url.substr(7);
      credentials = grpc::InsecureChannelCredentials();
    } else if (url.starts_with("https://")) {
      target = url.substr(8);
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = tls.ca;
      ssl.pem_cert_chain = tls.cert;
      ssl.pem_private_key = tls.key;
      credentials = grpc::SslCredentials(ssl);
    } else {
      return absl::InvalidArgumentError("--etcd-endpoints: " + url + " must start with http:// or https://");
    }
    while (!target.empty() && target.back() == '/') target.pop_back();
    if (target.empty() || target.find('/') != std::string::npos) {
      return absl::InvalidArgumentError("--etcd-endpoints: " + url + " must be scheme://host:port");
    }
    grpc::ChannelArguments arguments;
    // A member that comes back is found within a second, not gRPC's default two minutes.
    arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // A connection that went silent (a member frozen, a network cut) is
    // noticed by pings rather than by the TCP timeout. etcd refuses pings
    // closer than 5 s (--grpc-keepalive-min-time) or without a call open.
    arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 6000);
    arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 3000);
    arguments.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
    if (own_connections) arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    Endpoint endpoint;
    endpoint.url = url;
    endpoint.channel = grpc::CreateCustomChannel(target, credentials, arguments);
    endpoint.kv = etcdserverpb::KV::NewStub(endpoint.channel);
    endpoint.watch = etcdserverpb::Watch::NewStub(endpoint.channel);
    endpoint.lease = etcdserverpb::Lease::NewStub(endpoint.channel);
    endpoints->endpoints_.push_back(std::move(endpoint));
  }
  return endpoints;
}

bool EtcdEndpoints::ConnectCurrent(std::chrono::milliseconds patience) {
  const size_t index = current();
  if (at(index).channel->WaitForConnected(std::chrono::system_clock::now() + patience)) return true;
  Failed(index);
  return false;
}

void EtcdEndpoints::Failed(size_t index) {
  size_t expected = index;
  current_.compare_exchange_strong(expected, (index + 1) % endpoints_.size(), std::memory_order_acq_rel);
}

}  // namespace registryd::cluster
