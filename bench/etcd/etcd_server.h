// etcd started for one benchmark run: a single member on free loopback ports,
// its data in a fresh temporary directory that is removed afterwards.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bench/spawned_server.h"
#include "bench/temp_dir.h"

namespace registryd::bench {

class EtcdServer {
 public:
  // Starts `etcd_path` pinned to `cpus`, with `extra_args` after its own
  // flags; throws std::runtime_error on failure.
  EtcdServer(const std::string& cpus, const std::string& etcd_path, const std::vector<std::string>& extra_args);
  ~EtcdServer();
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  SpawnedServer& process() { return *process_; }

 private:
  TempDir data_dir_;
  std::optional<SpawnedServer> process_;
};

}  // namespace registryd::bench
