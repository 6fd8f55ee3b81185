#include "bench/etcd/etcd_server.h"

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>

namespace registryd::bench {

EtcdServer::EtcdServer(const std::string& cpus, const std::string& etcd_path) {
  char dir_template[] = "/tmp/registry_bench_etcd_XXXXXX";
  if (mkdtemp(dir_template) == nullptr) throw std::runtime_error("cannot create a data dir in /tmp");
  data_dir_ = dir_template;
  const std::string client = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  const std::string peer = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  try {
    process_.emplace(cpus,
                     std::vector<std::string>{etcd_path, "--name", "bench", "--data-dir", data_dir_,
                                              "--listen-client-urls", client, "--advertise-client-urls", client,
                                              "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                              "--initial-cluster", "bench=" + peer, "--logger", "zap",
                                              "--log-outputs", "stderr"},
                     SpawnedServer::Readiness{"serving client traffic", client.substr(client.find("//") + 2)});
  } catch (...) {
    std::filesystem::remove_all(data_dir_);
    throw;
  }
}

EtcdServer::~EtcdServer() {
  process_.reset();
  std::filesystem::remove_all(data_dir_);
}

}  // namespace registryd::bench
