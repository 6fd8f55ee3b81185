// registryd: flags, logging, signals; the server does the rest.
#include <csignal>
#include <initializer_list>
#include <optional>
#include <utility>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/ranges.h>
#include <google/protobuf/stubs/logging.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auth/authority.h"
#include "auth/tokens.h"
#include "build_info.h"
#include "config_text.h"
#include "core/read_file.h"
#include "persist/data_dir.h"
#include "core/log.h"
#include "http/http_server.h"
#include "http/ops_routes.h"
#include "server/server.h"
#include "server/server_credentials.h"

namespace {

using registryd::Duration;

// CLI11 validator and converter for "60s", "500ms", "1m30s".
struct DurationFlag {
  std::string text;
  Duration value;
};

std::string FormatDuration(Duration duration) {
  return absl::FormatDuration(absl::FromChrono(duration));
}

// Bounds that keep deadline arithmetic and the wire's uint32 milliseconds
// far from overflow, and the expiry wheel from spinning on tiny ticks.
constexpr Duration kMaxTtl = std::chrono::hours(24 * 30);
constexpr Duration kMinTick = std::chrono::milliseconds(1);
constexpr Duration kMaxTick = std::chrono::seconds(10);

CLI::Option* AddDuration(CLI::App& app, const std::string& name, DurationFlag& flag, const std::string& help,
                         Duration min = std::chrono::milliseconds(1), Duration max = kMaxTtl) {
  return app
      .add_option_function<std::string>(
          name,
          [&flag, min, max](const std::string& text) {
            absl::Duration parsed;
            if (!absl::ParseDuration(text, &parsed)) {
              throw CLI::ValidationError(text, "expected a duration such as 60s, 500ms or 1m30s");
            }
            const Duration value = absl::ToChronoNanoseconds(parsed);
            if (value < min || value > max) {
              throw CLI::ValidationError(
                  text, "must be between " + FormatDuration(min) + " and " + FormatDuration(max));
            }
            flag.text = text;
            flag.value = value;
          },
          help)
      ->default_str(flag.text);
}

// Reads each named file (path, destination) whose path is set; false, with
// the reason logged, when one cannot be read.
bool ReadPemFiles(std::initializer_list<std::pair<const std::string*, std::string*>> files) {
  for (const auto& [path, pem] : files) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> contents = registryd::ReadFile(*path);
    if (!contents.ok()) {
      registryd::log::Error("{}", std::string(contents.status().message()));
      return false;
    }
    *pem = *std::move(contents);
  }
  return true;
}

// Under a policy the other nodes refuse this node's Peer calls unless its
// identity has admin on every service (they take the leases over instead of
// having their renewals forwarded): say so at the start, not at the first
// forwarded renewal. A node certificate's identity is not checked here.
void WarnIfPeersWillRefuseThisNode(const registryd::auth::Authority& authority, const std::string& peer_token,
                                   bool mutual_tls) {
  if (peer_token.empty()) {
    if (!mutual_tls) {
      registryd::log::Warn("cluster: under --authz-policy without mutual TLS, this node's calls to the other nodes "
                           "carry no identity, so they will refuse its forwarded renewals: give every node "
                           "--peer-token-file with a token whose identity has admin on every service");
    }
    return;
  }
  const std::shared_ptr<const registryd::auth::Authority::Snapshot> snapshot = authority.Current();
  const std::optional<std::string_view> identity = snapshot->tokens->IdentityOf(peer_token);
  if (!identity) {
    registryd::log::Warn("cluster: --peer-token-file holds a token --auth-tokens does not: the other nodes will "
                         "refuse this node's forwarded renewals");
  } else if (!snapshot->policy->GrantsFor(*identity)->AllowsEveryService(registryd::auth::Permission::kAdmin)) {
    registryd::log::Warn("cluster: --peer-token-file names \"{}\", which has no admin on every service: the other "
                         "nodes will refuse this node's forwarded renewals",
                         *identity);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's abseil checks lock order on every absl::Mutex acquisition (gRPC
  // locks several per call): a debugging aid that perf shows at a few
  // percent of a call's CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  registryd::ServerOptions options;
  options.threads = std::max(1u, std::thread::hardware_concurrency());
  DurationFlag lease_ttl{"60s", std::chrono::seconds(60)};
  DurationFlag min_ttl{"1s", std::chrono::seconds(1)};
  DurationFlag max_ttl{"1h", std::chrono::hours(1)};
  DurationFlag tick{"100ms", std::chrono::milliseconds(100)};
  DurationFlag stall_threshold{"500ms", std::chrono::milliseconds(500)};
  DurationFlag max_hold{"", Duration::zero()};  // empty: --lease-ttl
  // A request unread that long has waited a thousand times what registryd
  // takes to answer; clients with deadlines of a second have given up on it.
  DurationFlag shed_unread_after{"1s", std::chrono::seconds(1)};
  DurationFlag shutdown_timeout{"5s", std::chrono::seconds(5)};
  std::string log_level = "info";
  std::string log_format = "text";
  bool print_config = false;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  std::string seed_api = "on";
  std::string xds = "on";
  options.persistence.data_dir = "registryd.data";
  DurationFlag restore_spread{"5s", std::chrono::seconds(5)};
  DurationFlag fsync_interval{"10ms", std::chrono::milliseconds(10)};
  std::string fsync = "batch";
  std::vector<std::string> etcd_endpoints;
  std::vector<std::string> etcd_watch_endpoints;
  registryd::cluster::ClusterOptions cluster;
  DurationFlag node_ttl{"10s", std::chrono::seconds(10)};
  DurationFlag max_staleness{"5s", std::chrono::seconds(5)};
  DurationFlag forward_interval{"100ms", std::chrono::milliseconds(100)};
  std::string etcd_ca_file;
  std::string etcd_cert_file;
  std::string etcd_key_file;
  registryd::http::HttpOptions http;

  CLI::App app{"registryd: a service registry and discovery server (gRPC). It serves the seed's "
               "registry_service/discovery_service contract and the native registry.v1 API on one port."};
  app.add_option("--listen", options.listen, "Address to serve on (host:port; port 0 picks a free one)")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "Completion-queue threads (default: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  AddDuration(app, "--lease-ttl", lease_ttl,
              "Lease of a seed registration, and of a native one that asks for no TTL");
  AddDuration(app, "--min-ttl", min_ttl, "Smallest TTL a native Register may be granted");
  AddDuration(app, "--max-ttl", max_ttl, "Largest TTL a native Register may be granted");
  AddDuration(app, "--tick", tick,
              "Expiry granularity: a lease is removed within one tick after its deadline", kMinTick, kMaxTick);
  AddDuration(app, "--stall-threshold", stall_threshold,
              "registryd's own expiry alarms running this late (at least twice --tick) mean it did not run "
              "(a stall: every lease is extended by its length) or fell behind (expiry waits, up to --max-hold)",
              std::chrono::milliseconds(2), std::chrono::minutes(1));
  AddDuration(app, "--max-hold", max_hold,
              "While registryd is behind, expiry waits for it at most this long (default: --lease-ttl)",
              Duration::zero());
  AddDuration(app, "--shed-unread-after", shed_unread_after,
              "A client connection whose requests wait unread this long (registryd behind) is reset, so that "
              "its clients call again on a fresh one instead of waiting behind calls their clients gave up on "
              "(0: never; at least --stall-threshold)",
              Duration::zero());
  app.add_option("--max-instances", options.registry.max_instances,
                 "Most instances held at once; more registrations get RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--watch-history", options.registry.change_log_capacity,
                 "Changes kept per shard for Watch streams that resume or fall behind")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));
  AddDuration(app, "--shutdown-timeout", shutdown_timeout,
              "On SIGINT/SIGTERM, how long in-flight calls may take before they are cancelled");
  app.add_option("--tls-cert", tls_cert_file, "Serve TLS with this certificate chain (PEM); default plaintext")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", tls_key_file, "The private key of --tls-cert (PEM)")->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", tls_client_ca_file,
                 "Mutual TLS: require client certificates signed by this CA (PEM), refuse other clients")
      ->check(CLI::ExistingFile);
  registryd::auth::AuthFiles auth_files;
  app.add_option("--authz-policy", auth_files.policy,
                 "Authorize every call by this policy (protobuf text: who may read, register or administer which "
                 "services; README, Security); default: anyone may do anything. SIGHUP reloads it")
      ->check(CLI::ExistingFile);
  app.add_option("--auth-tokens", auth_files.tokens,
                 "Bearer tokens (their SHA-256 and the identity each stands for) for clients without a client "
                 "certificate; needs --authz-policy. SIGHUP reloads it")
      ->check(CLI::ExistingFile);
  app.add_option("--audit-log", auth_files.audit_log,
                 "Append every change made or refused (register, deregister, eject) to this file as JSON lines "
                 "(time, identity, action, service, instance, result); needs --authz-policy");
  app.add_option("--seed-api", seed_api,
                 "Serve the seed's registry_service/discovery_service (its ids are guessable int32s: "
                 "turn it off where no seed client needs it)")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--xds", xds,
                 "Serve xDS (envoy.service.discovery.v3 ADS): gRPC clients with a bootstrap file naming registryd "
                 "resolve xds:///SERVICE and balance over its live instances")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--data-dir", options.persistence.data_dir,
                 "Where registrations are kept across restarts (created if missing); empty: memory only")
      ->capture_default_str();
  AddDuration(app, "--restore-spread", restore_spread,
              "Restored leases get a fresh TTL plus a random delay up to this, so they do not expire together",
              Duration::zero());
  app.add_option("--fsync", fsync,
                 "batch: sync the journal every --fsync-interval (group commit; a crash loses at most the last "
                 "interval's changes); always: answer Register/Deregister only once their change is synced")
      ->capture_default_str()
      ->check(CLI::IsMember({"batch", "always"}));
  AddDuration(app, "--fsync-interval", fsync_interval,
              "Group commit: the journal is written and synced this often; a crash loses at most the changes of "
              "the last interval",
              std::chrono::milliseconds(1), std::chrono::seconds(1));
  auto* cluster_group = app.add_option_group("Cluster mode", "Several registryd nodes over an etcd cluster (docs/CLUSTER.md)");
  cluster_group
      ->add_option("--etcd-endpoints", etcd_endpoints,
                   "Run as a node of the cluster kept in this etcd (http://host:port or https://host:port, "
                   "comma-separated); the data dir is not used")
      ->delimiter(',');
  cluster_group
      ->add_option("--etcd-watch-endpoints", etcd_watch_endpoints,
                   "Follow the catalog through these members instead (an etcd gRPC proxy, say); default: "
                   "--etcd-endpoints")
      ->delimiter(',');
  cluster_group->add_option("--etcd-prefix", cluster.prefix, "The cluster's keys in etcd")->capture_default_str();
  cluster_group->add_option("--node-name", cluster.node_name,
                            "This node's name, unique in the cluster (default: its advertise address)");
  std::string peer_token_file;
  cluster_group->add_option("--peer-token-file", peer_token_file,
                            "A file holding this node's bearer token (of --auth-tokens), sent with its calls to the "
                            "other nodes: under --authz-policy they need a node's identity to have admin on every "
                            "service (under mutual TLS its certificate names it instead)");
  cluster_group->add_option("--advertise-address", cluster.address,
                            "Where the other nodes reach this one (host:port; default: the address it listens on)");
  AddDuration(*cluster_group, "--node-ttl", node_ttl,
              "A node silent this long (dead, or cut off from etcd) loses its leases to the others",
              std::chrono::seconds(2), std::chrono::minutes(10));
  AddDuration(*cluster_group, "--max-staleness", max_staleness,
              "A node whose view of etcd cannot be shown current within this long reports NOT_SERVING and "
              "watches again",
              std::chrono::milliseconds(500), std::chrono::minutes(10));
  AddDuration(*cluster_group, "--forward-interval", forward_interval,
              "Heartbeats for leases another node keeps are forwarded to it this often",
              std::chrono::milliseconds(10), std::chrono::seconds(10));
  cluster_group->add_option("--etcd-max-txn-ops", cluster.commit.max_txn_ops,
                            "Operations per etcd Txn (at most etcd's --max-txn-ops): a batch holds up to two fewer writes, "
                            "for the reason of its removals and its conditional writes")
      ->capture_default_str()
      ->check(CLI::Range(size_t{3}, size_t{10000}));
  cluster_group->add_option("--etcd-txns-in-flight", cluster.commit.max_txns_in_flight,
                            "Txns sent to etcd before the first is answered; writes arriving meanwhile wait and form "
                            "the next, larger batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cluster_group->add_option("--etcd-ca", etcd_ca_file, "CA of etcd's certificate (PEM), for https:// endpoints")
      ->check(CLI::ExistingFile);
  cluster_group->add_option("--etcd-cert", etcd_cert_file, "Client certificate for etcd (PEM)")
      ->check(CLI::ExistingFile);
  cluster_group->add_option("--etcd-key", etcd_key_file, "The private key of --etcd-cert (PEM)")
      ->check(CLI::ExistingFile);
  app.add_option("--http-listen", http.listen,
                 "HTTP face for operators: /metrics, /healthz, /readyz, /v1/services (host:port; port 0 picks a "
                 "free one; empty: off). HTTPS with --tls-cert/--tls-key, as the gRPC port")
      ->capture_default_str();
  app.add_option("--http-threads", http.threads, "Threads (and connections served at once) of the HTTP face")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{64}));
  app.add_option("--log-level", log_level, "debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.add_option("--log-format", log_format, "text, or json: one JSON object per line (time, level, message, fields)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  // Every flag may come from a file (TOML, or INI); the command line overrides it.
  app.allow_config_extras(false);  // a key that is no flag (a typo) is an error, not ignored
  app.set_config("--config", "", "Read flags from this TOML file (as --print-config writes it); flags given on the "
                                 "command line override it");
  app.add_flag("--print-config", print_config,
               "Print the effective configuration (defaults, the --config file, the command line) as TOML and exit")
      ->configurable(false);
  CLI11_PARSE(app, argc, argv);
  if (print_config) {
    std::fputs(registryd::ConfigText(app).c_str(), stdout);
    return 0;
  }

  if (min_ttl.value > max_ttl.value) {
    std::fprintf(stderr, "--min-ttl (%s) must not exceed --max-ttl (%s)\n", min_ttl.text.c_str(),
                 max_ttl.text.c_str());
    return 2;
  }
  // Alarms come once a tick: a threshold closer to the tick would find
  // registryd late when it is not.
  if (stall_threshold.value < 2 * tick.value) {
    std::fprintf(stderr, "--stall-threshold (%s) must be at least twice --tick (%s)\n", stall_threshold.text.c_str(),
                 tick.text.c_str());
    return 2;
  }
  // The receive queues are sampled once per --stall-threshold.
  if (shed_unread_after.value != Duration::zero() && shed_unread_after.value < stall_threshold.value) {
    std::fprintf(stderr, "--shed-unread-after (%s) must be 0 or at least --stall-threshold (%s)\n",
                 shed_unread_after.text.c_str(), stall_threshold.text.c_str());
    return 2;
  }
  registryd::log::Level level;
  registryd::log::ParseLevel(log_level, level);
  registryd::log::SetLevel(level);
  registryd::log::Format format;
  registryd::log::ParseFormat(log_format, format);
  registryd::log::SetFormat(format);
  // libprotobuf reports every request it cannot parse (a string field with
  // invalid UTF-8, say) on stderr; any client could flood the log that way.
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string& message) {
    registryd::log::Debug("protobuf: {}", message);
  });

  options.registry.default_ttl = lease_ttl.value;
  options.registry.min_ttl = min_ttl.value;
  options.registry.max_ttl = max_ttl.value;
  options.registry.tick = tick.value;
  options.lease_clock.late_bound = stall_threshold.value;
  options.lease_clock.max_hold = max_hold.text.empty() ? lease_ttl.value : max_hold.value;
  options.shed_unread_after = shed_unread_after.value == Duration::zero() ? Duration::max() : shed_unread_after.value;
  options.registry.shard_count = registryd::ShardCountForThreads(options.threads);
  options.shutdown_timeout = shutdown_timeout.value;
  options.seed_api = seed_api == "on";
  options.xds = xds == "on";
  options.persistence.restore_spread = restore_spread.value;
  options.persistence.journal.batch_interval = fsync_interval.value;
  options.persistence.journal.fsync = fsync == "always" ? registryd::FsyncPolicy::kAlways : registryd::FsyncPolicy::kBatch;
  if (!etcd_endpoints.empty()) {
    cluster.etcd_endpoints = etcd_endpoints;
    cluster.watch_endpoints = etcd_watch_endpoints;
    cluster.node_ttl = node_ttl.value;
    cluster.max_staleness = max_staleness.value;
    cluster.forward_interval = forward_interval.value;
    if (!ReadPemFiles({{&etcd_ca_file, &cluster.etcd_tls.ca},
                       {&etcd_cert_file, &cluster.etcd_tls.cert},
                       {&etcd_key_file, &cluster.etcd_tls.key}})) {
      return 2;
    }
    if (!peer_token_file.empty()) {
      absl::StatusOr<std::string> token = registryd::auth::ReadBearerTokenFile("--peer-token-file", peer_token_file);
      if (!token.ok()) {
        registryd::log::Error("{}", std::string(token.status().message()));
        return 2;
      }
      cluster.peer_token = *std::move(token);
    }
    options.cluster = cluster;
    // etcd holds the registrations; revisions come from etcd's.
    options.persistence.data_dir.clear();
  }
  if (!options.persistence.data_dir.empty()) {
    // Stored lease ids carry their shard: the registry keeps the shard count
    // the data dir was written with, whatever --threads is now.
    absl::StatusOr<std::optional<uint32_t>> stored = registryd::DataDir::StoredShardCount(options.persistence.data_dir);
    if (!stored.ok()) {
      registryd::log::Error("{}", std::string(stored.status().message()));
      return 1;
    }
    if (*stored) options.registry.shard_count = **stored;
  }
  if (!ReadPemFiles({{&tls_cert_file, &options.tls.cert_chain},
                     {&tls_key_file, &options.tls.private_key},
                     {&tls_client_ca_file, &options.tls.client_ca}})) {
    return 2;
  }
  // Revisions start from the wall clock in microseconds: a Watch client that
  // resumes with a revision from an earlier run (lower) gets a snapshot.
  // (In cluster mode revisions are etcd's, the same on every node.)
  if (!options.cluster) {
    options.registry.first_revision = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
  }

  if (!auth_files.audit_log.empty() && auth_files.policy.empty()) {
    registryd::log::Error("--audit-log needs --authz-policy: the log records who made each change");
    return 1;
  }
  if (!auth_files.tokens.empty() && auth_files.policy.empty()) {
    registryd::log::Error("--auth-tokens needs --authz-policy: tokens name identities, the policy says what they may do");
    return 1;
  }
  if (!auth_files.policy.empty()) {
    absl::StatusOr<std::unique_ptr<registryd::auth::Authority>> authority =
        registryd::auth::Authority::Load(auth_files);
    if (!authority.ok()) {
      registryd::log::Error("{}", std::string(authority.status().message()));
      return 1;
    }
    options.authority = *std::move(authority);
    if (options.cluster) {
      WarnIfPeersWillRefuseThisNode(*options.authority, options.cluster->peer_token,
                                    !options.tls.client_ca.empty());
    }
  }

  // Block the stop and reload signals in every thread (the queue threads
  // inherit the mask); main waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  registryd::SteadyClock clock;
  registryd::Server server(options, clock);
  // The HTTP face comes up first, so that probes see the start (/readyz 503
  // while a data dir restores or the catalog loads).
  registryd::http::NodeInfo node_info{REGISTRYD_VERSION, registryd::kSourceRevision, std::chrono::system_clock::now(),
                                      {}};
  node_info.settings = {
      {"listen", options.listen},
      {"mode", options.cluster ? "cluster" : options.persistence.data_dir.empty() ? "memory only" : "data dir"},
      {"data dir", options.persistence.data_dir},
      {"etcd endpoints", fmt::format("{}", fmt::join(etcd_endpoints, ","))},
      {"threads", std::to_string(options.threads)},
      {"lease TTL", FormatDuration(lease_ttl.value)},
      {"TTL bounds", FormatDuration(min_ttl.value) + ".." + FormatDuration(max_ttl.value)},
      {"tick", FormatDuration(tick.value)},
      {"stall threshold", FormatDuration(stall_threshold.value)},
      {"max hold", FormatDuration(options.lease_clock.max_hold)},
      {"shed unread after", shed_unread_after.value == Duration::zero() ? "never" : FormatDuration(shed_unread_after.value)},
      {"max instances", std::to_string(options.registry.max_instances)},
      {"seed API", seed_api},
      {"xDS", xds},
      {"transport", registryd::DescribeTransport(options.tls)},
      {"authorization", registryd::auth::Describe(options.authority.get())},
  };
  registryd::http::OpsContext ops(server, std::move(node_info));
  // After `ops`: its routes use it, so it stops first on every way out.
  std::optional<registryd::http::HttpServer> http_server;
  if (!http.listen.empty()) {
    http.tls_cert_file = tls_cert_file;
    http.tls_key_file = tls_key_file;
    http.tls_client_ca_file = tls_client_ca_file;
    http_server.emplace(http);
    registryd::http::AddOpsRoutes(*http_server, ops);
    if (const absl::Status status = http_server->Start(); !status.ok()) {
      registryd::log::Error("{}", std::string(status.message()));
      return 1;
    }
    registryd::log::Info("HTTP face on {}://{} (/metrics, /healthz, /readyz, /v1/services)",
                         http_server->tls() ? "https" : "http", http_server->address());
    if (!http_server->tls() && !registryd::IsLoopbackAddress(http.listen)) {
      registryd::log::Warn("serving HTTP in plaintext on {}: anyone who can reach it can read the registry and its "
                           "metrics; use --tls-cert/--tls-key, or a loopback --http-listen",
                           http_server->address());
    }
  }
  if (const absl::Status status = server.Start(); !status.ok()) {
    registryd::log::Error("{}", std::string(status.message()));
    return 1;
  }
  ops.set_phase(registryd::http::OpsContext::Phase::kServing);
  registryd::log::Info(
      "registryd listening on {} ({}, seed API {}, xDS {}, {}, threads {}, lease TTL {}, TTL bounds {}..{}, tick {}, "
      "max instances {})",
      server.address(), registryd::DescribeTransport(options.tls), seed_api, xds,
      options.cluster ? fmt::format("cluster node {} over etcd {} (prefix {}, node TTL {})",
                                    server.cluster()->options().node_name, fmt::join(etcd_endpoints, ","),
                                    cluster.prefix, FormatDuration(node_ttl.value))
      : options.persistence.data_dir.empty()
          ? std::string("memory only")
          : fsync == "always" ? fmt::format("data dir {} synced before each change is answered",
                                            options.persistence.data_dir)
                              : fmt::format("data dir {} synced every {}", options.persistence.data_dir,
                                            FormatDuration(fsync_interval.value)),
      options.threads,
      FormatDuration(lease_ttl.value), FormatDuration(min_ttl.value), FormatDuration(max_ttl.value),
      FormatDuration(tick.value), options.registry.max_instances);
  registryd::log::Info("authorization: {}", registryd::auth::Describe(options.authority.get()));
  if (options.tls.cert_chain.empty() && !registryd::IsLoopbackAddress(options.listen)) {
    registryd::log::Warn("serving plaintext on {}: anyone who can reach it can register and deregister instances; "
                         "use --tls-cert/--tls-key (and --tls-client-ca), or listen on a loopback address",
                         server.address());
  }
  if (options.authority == nullptr && !registryd::IsLoopbackAddress(options.listen)) {
    registryd::log::Warn("no --authz-policy: anyone who can reach {} may register any address under any service, "
                         "and renew, move or deregister anyone's instances",
                         server.address());
  }

  int signal_number = 0;
  for (;;) {
    sigwait(&stop_signals, &signal_number);
    if (signal_number != SIGHUP) break;
    if (options.authority == nullptr) {
      registryd::log::Info("SIGHUP received: no --authz-policy to reload");
    } else if (const absl::Status reloaded = server.ReloadAuthorization(); !reloaded.ok()) {
      registryd::log::Error("SIGHUP received: keeping the authorization policy loaded before: {}",
                            std::string(reloaded.message()));
    } else {
      registryd::log::Info("SIGHUP received: authorization reloaded: {}",
                           registryd::auth::Describe(options.authority.get()));
    }
  }
  registryd::log::Info("{} received: shutting down (in-flight calls get {})", strsignal(signal_number),
                       FormatDuration(shutdown_timeout.value));
  ops.set_phase(registryd::http::OpsContext::Phase::kStopping);
  server.Shutdown();
  if (http_server) http_server->Stop();
  registryd::log::Info("stopped");
  return 0;
}
