// A 3-member etcd cluster started for one benchmark run, on free loopback
// ports, every member pinned to the same CPUs, its data in fresh temporary
// directories removed afterwards.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "bench/spawned_server.h"
#include "bench/temp_dir.h"

namespace registryd::bench {

class EtcdCluster {
 public:
  // Starts `members` members of `etcd_path` pinned to `cpus`, with
  // `extra_args` after their own flags; throws std::runtime_error on failure.
  EtcdCluster(const std::string& cpus, const std::string& etcd_path, const std::vector<std::string>& extra_args,
              int members = 3);
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // "http://127.0.0.1:port" of each member.
  const std::vector<std::string>& client_urls() const { return client_urls_; }
  // "host:port" of every member, comma-separated: a round_robin target.
  std::string Addresses() const;
  // etcd's revision now: it grows by one per write Txn.
  int64_t Revision();
  // {key: mod_revision} of every key that starts with `prefix`, as of one
  // revision: a key written between two calls has moved, or come or gone.
  std::map<std::string, int64_t> ModRevisions(const std::string& prefix);
  // The first member's backend database: its size on disk, in bytes.
  int64_t DatabaseBytes();

 private:
  std::vector<std::unique_ptr<TempDir>> data_dirs_;
  std::vector<std::string> client_urls_;
  std::vector<std::unique_ptr<SpawnedServer>> members_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace registryd::bench
