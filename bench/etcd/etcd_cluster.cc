#include "bench/etcd/etcd_cluster.h"

#include <future>
#include <stdexcept>

#include <grpcpp/create_channel.h>

#include "etcd/etcdserverpb/rpc.grpc.pb.h"

namespace registryd::bench {

EtcdCluster::EtcdCluster(const std::string& cpus, const std::string& etcd_path,
                         const std::vector<std::string>& extra_args, int members) {
  std::vector<std::string> peer_urls;
  std::string initial_cluster;
  for (int i = 0; i < members; ++i) {
    data_dirs_.push_back(std::make_unique<TempDir>("registry_bench_etcd_"));
    client_urls_.push_back("http://127.0.0.1:" + std::to_string(FreeLoopbackPort()));
    peer_urls.push_back("http://127.0.0.1:" + std::to_string(FreeLoopbackPort()));
    initial_cluster += (i ? "," : "") + std::string("m") + std::to_string(i) + "=" + peer_urls.back();
  }
  // A member serves clients only once the cluster has a quorum: start them together.
  members_.resize(members);
  std::vector<std::future<void>> started;
  for (int i = 0; i < members; ++i) {
    started.push_back(std::async(std::launch::async, [&, i] {
      const std::string& client = client_urls_[i];
      std::vector<std::string> command{etcd_path, "--name", "m" + std::to_string(i), "--data-dir",
                                       data_dirs_[i]->path(), "--listen-client-urls", client,
                                       "--advertise-client-urls", client, "--listen-peer-urls", peer_urls[i],
                                       "--initial-advertise-peer-urls", peer_urls[i], "--initial-cluster",
                                       initial_cluster, "--initial-cluster-state", "new", "--logger", "zap",
                                       "--log-outputs", "stderr"};
      command.insert(command.end(), extra_args.begin(), extra_args.end());
      members_[i] = std::make_unique<SpawnedServer>(
          cpus, command, SpawnedServer::Readiness{"serving client traffic", client.substr(client.find("//") + 2)});
    }));
  }
  for (auto& member : started) member.get();  // rethrows a member's failure
  channel_ = grpc::CreateChannel(members_[0]->address(), grpc::InsecureChannelCredentials());
}

EtcdCluster::~EtcdCluster() {
  for (auto& member : members_) member.reset();  // before their data dirs go
}

std::string EtcdCluster::Addresses() const {
  std::string addresses;
  for (const auto& member : members_) addresses += (addresses.empty() ? "" : ",") + member->address();
  return addresses;
}

int64_t EtcdCluster::Revision() {
  etcdserverpb::RangeRequest request;
  request.set_key("registry_bench/revision-probe");
  request.set_count_only(true);
  etcdserverpb::RangeResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const grpc::Status status = etcdserverpb::KV::NewStub(channel_)->Range(&context, request, &response);
  if (!status.ok()) throw std::runtime_error("etcd cluster: " + status.error_message());
  return response.header().revision();
}

std::map<std::string, int64_t> EtcdCluster::ModRevisions(const std::string& prefix) {
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);  // every key that starts with `prefix`
  etcdserverpb::RangeRequest request;
  request.set_key(prefix);
  request.set_range_end(end);
  request.set_keys_only(true);
  request.set_limit(5000);  // pages well within gRPC's message size
  const std::unique_ptr<etcdserverpb::KV::Stub> kv = etcdserverpb::KV::NewStub(channel_);
  std::map<std::string, int64_t> keys;
  for (;;) {
    etcdserverpb::RangeResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    const grpc::Status status = kv->Range(&context, request, &response);
    if (!status.ok()) throw std::runtime_error("etcd cluster: " + status.error_message());
    for (const auto& kv_pair : response.kvs()) keys[kv_pair.key()] = kv_pair.mod_revision();
    if (!response.more() || response.kvs().empty()) return keys;
    request.set_key(response.kvs().rbegin()->key() + '\0');  // the next page, of the same revision
    request.set_revision(response.header().revision());
  }
}

int64_t EtcdCluster::DatabaseBytes() {
  etcdserverpb::StatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const grpc::Status status =
      etcdserverpb::Maintenance::NewStub(channel_)->Status(&context, etcdserverpb::StatusRequest(), &response);
  if (!status.ok()) throw std::runtime_error("etcd cluster: " + status.error_message());
  return response.dbsize();
}

}  // namespace registryd::bench
