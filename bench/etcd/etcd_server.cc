#include "bench/etcd/etcd_server.h"

namespace registryd::bench {

EtcdServer::EtcdServer(const std::string& cpus, const std::string& etcd_path,
                       const std::vector<std::string>& extra_args)
    : data_dir_("registry_bench_etcd_") {
  const std::string client = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  const std::string peer = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  std::vector<std::string> command{etcd_path, "--name", "bench", "--data-dir", data_dir_.path(),
                                   "--listen-client-urls", client, "--advertise-client-urls", client,
                                   "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                   "--initial-cluster", "bench=" + peer, "--logger", "zap",
                                   "--log-outputs", "stderr"};
  command.insert(command.end(), extra_args.begin(), extra_args.end());
  process_.emplace(cpus, command,
                   SpawnedServer::Readiness{"serving client traffic", client.substr(client.find("//") + 2)});
}

EtcdServer::~EtcdServer() { process_.reset(); }  // before its data dir goes

}  // namespace registryd::bench
