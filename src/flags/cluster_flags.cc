#include "flags/cluster_flags.h"

#include "auth/tokens.h"
#include "flags/security_flags.h"

namespace registryd::flags {

void ClusterFlags::AddTo(CLI::App& app) {
  CLI::App& group = *app.add_option_group("Cluster mode", "Several registryd nodes over an etcd cluster (docs/CLUSTER.md)");
  group
      .add_option("--etcd-endpoints", etcd_endpoints,
                  "Run as a node of the cluster kept in this etcd (http://host:port or https://host:port, "
                  "comma-separated); the data dir is not used")
      ->delimiter(',');
  group
      .add_option("--etcd-watch-endpoints", etcd_watch_endpoints,
                  "Follow the catalog through these members instead (an etcd gRPC proxy, say); default: "
                  "--etcd-endpoints")
      ->delimiter(',');
  group.add_option("--etcd-prefix", cluster.prefix, "The cluster's keys in etcd")->capture_default_str();
  group.add_option("--node-name", cluster.node_name,
                   "This node's name, unique in the cluster (default: its advertise address)");
  group.add_option("--peer-token-file", peer_token_file,
                   "A file holding this node's bearer token (of --auth-tokens), sent with its calls to the "
                   "other nodes: under --authz-policy they need a node's identity to have admin on every "
                   "service (under mutual TLS its certificate names it instead)");
  group.add_option("--advertise-address", cluster.address,
                   "Where the other nodes reach this one (host:port; default: the address it listens on)");
  AddDuration(group, "--node-ttl", node_ttl,
              "A node silent this long (dead, or cut off from etcd) loses its leases to the others",
              std::chrono::seconds(2), std::chrono::minutes(10));
  AddDuration(group, "--max-staleness", max_staleness,
              "A node whose view of etcd cannot be shown current within this long reports NOT_SERVING and "
              "watches again",
              std::chrono::milliseconds(500), std::chrono::minutes(10));
  AddDuration(group, "--forward-interval", forward_interval,
              "Heartbeats for leases another node keeps are forwarded to it this often",
              std::chrono::milliseconds(10), std::chrono::seconds(10));
  group.add_option("--etcd-max-txn-ops", cluster.commit.max_txn_ops,
                   "Operations per etcd Txn (at most etcd's --max-txn-ops): a batch holds up to two fewer writes, "
                   "for the reason of its removals and its conditional writes")
      ->capture_default_str()
      ->check(CLI::Range(size_t{3}, size_t{10000}));
  group.add_option("--etcd-txns-in-flight", cluster.commit.max_txns_in_flight,
                   "Txns sent to etcd before the first is answered; writes arriving meanwhile wait and form "
                   "the next, larger batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  group.add_option("--etcd-ca", etcd_ca_file, "CA of etcd's certificate (PEM), for https:// endpoints")
      ->check(CLI::ExistingFile);
  group.add_option("--etcd-cert", etcd_cert_file, "Client certificate for etcd (PEM)")->check(CLI::ExistingFile);
  group.add_option("--etcd-key", etcd_key_file, "The private key of --etcd-cert (PEM)")->check(CLI::ExistingFile);
}

absl::Status ClusterFlags::ApplyTo(ServerOptions& options) const {
  if (etcd_endpoints.empty()) return absl::OkStatus();
  cluster::ClusterOptions node = cluster;
  node.etcd_endpoints = etcd_endpoints;
  node.watch_endpoints = etcd_watch_endpoints;
  node.node_ttl = node_ttl.value;
  node.max_staleness = max_staleness.value;
  node.forward_interval = forward_interval.value;
  if (absl::Status read = ReadPemFiles({{&etcd_ca_file, &node.etcd_tls.ca},
                                        {&etcd_cert_file, &node.etcd_tls.cert},
                                        {&etcd_key_file, &node.etcd_tls.key}});
      !read.ok()) {
    return read;
  }
  if (!peer_token_file.empty()) {
    absl::StatusOr<std::string> token = auth::ReadBearerTokenFile("--peer-token-file", peer_token_file);
    if (!token.ok()) return token.status();
    node.peer_token = *std::move(token);
  }
  options.cluster = std::move(node);
  // etcd holds the registrations; revisions come from etcd's.
  options.persistence.data_dir.clear();
  return absl::OkStatus();
}

}  // namespace registryd::flags
