// registryd's flags, "Cluster mode": a node of several over etcd
// (docs/CLUSTER.md).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"
#include "cluster/cluster.h"
#include "flags/duration_flag.h"
#include "server/server_options.h"

namespace registryd::flags {

struct ClusterFlags {
  std::vector<std::string> etcd_endpoints;  // empty: not a cluster node
  std::vector<std::string> etcd_watch_endpoints;
  cluster::ClusterOptions cluster;
  DurationFlag node_ttl{"10s", std::chrono::seconds(10)};
  DurationFlag max_staleness{"5s", std::chrono::seconds(5)};
  DurationFlag forward_interval{"100ms", std::chrono::milliseconds(100)};
  std::string peer_token_file;
  std::string etcd_ca_file;
  std::string etcd_cert_file;
  std::string etcd_key_file;

  void AddTo(CLI::App& app);
  // A cluster node: reads the etcd TLS files and the peer token, and turns
  // the data dir off (etcd holds the registrations).
  absl::Status ApplyTo(ServerOptions& options) const;
};

}  // namespace registryd::flags
