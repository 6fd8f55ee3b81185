#include "flags/registryd_flags.h"

#include <fmt/ranges.h>

#include "auth/authority.h"
#include "build_info.h"
#include "flags/grouped_help.h"
#include "server/server_credentials.h"

namespace registryd::flags {

void RegistrydFlags::AddTo(CLI::App& app) {
  app.formatter(std::make_shared<GroupedHelp>());
  serving.AddTo(app);
  leases.AddTo(app);
  persistence.AddTo(app);
  security.AddTo(app);
  cluster.AddTo(app);
  http.AddTo(app);
  dns.AddTo(app);
  xds.AddTo(app);
  logging.AddTo(app);
  // Every flag may come from a file (TOML, or INI); the command line overrides it.
  app.allow_config_extras(false);  // a key that is no flag (a typo) is an error, not ignored
  app.set_config("--config", "", "Read flags from this TOML file (as --print-config writes it); flags given on the "
                                 "command line override it");
  app.add_flag("--print-config", print_config,
               "Print the effective configuration (defaults, the --config file, the command line) as TOML and exit")
      ->configurable(false);
  app.add_flag("--check-config", check_config,
               "Read the configuration (the --config file, the command line, the TLS, policy and token files they "
               "name), report every error with its file:line:column, and exit: 0 when it is fine, 1 if not; "
               "nothing listens")
      ->configurable(false);
  app.set_version_flag("--version", fmt::format("registryd {} ({})", kVersion, kSourceRevision),
                       "Print the version and the source revision it was built from, and exit")
      ->configurable(false);
}

std::optional<std::string> RegistrydFlags::Check() const {
  if (std::optional<std::string> wrong = leases.Check()) return wrong;
  if (absl::StatusOr<dns::DnsOptions> face = dns.Options(); !face.ok()) return std::string(face.status().message());
  return security.Check();
}

absl::StatusOr<ServerOptions> RegistrydFlags::ToServerOptions() const {
  ServerOptions options;
  serving.ApplyTo(options);
  leases.ApplyTo(options);
  persistence.ApplyTo(options);
  xds.ApplyTo(options);
  if (absl::Status status = cluster.ApplyTo(options); !status.ok()) return status;
  if (absl::Status status = PersistenceFlags::KeepStoredShardCount(options); !status.ok()) return status;
  if (absl::Status status = security.ApplyTo(options); !status.ok()) return status;
  return options;
}

std::vector<std::pair<std::string, std::string>> RegistrydFlags::Settings(const ServerOptions& options) const {
  return {
      {"listen", options.listen},
      {"mode", options.cluster ? "cluster" : options.persistence.data_dir.empty() ? "memory only" : "data dir"},
      {"data dir", options.persistence.data_dir},
      {"etcd endpoints", fmt::format("{}", fmt::join(cluster.etcd_endpoints, ","))},
      {"threads", std::to_string(options.threads)},
      {"lease TTL", FormatDuration(leases.lease_ttl.value)},
      {"TTL bounds", FormatDuration(leases.min_ttl.value) + ".." + FormatDuration(leases.max_ttl.value)},
      {"tick", FormatDuration(leases.tick.value)},
      {"stall threshold", FormatDuration(leases.stall_threshold.value)},
      {"max hold", FormatDuration(options.lease_clock.max_hold)},
      {"shed unread after", leases.shed_unread_after.value == Duration::zero()
                                ? "never"
                                : FormatDuration(leases.shed_unread_after.value)},
      {"max instances", std::to_string(options.registry.max_instances)},
      {"seed API", serving.seed_api},
      {"xDS", xds.xds},
      {"transport", DescribeTransport(options.tls)},
      {"authorization", auth::Describe(options.authority.get())},
  };
}

std::string RegistrydFlags::DescribeStorage(const ServerOptions& options, const std::string& node_name) const {
  if (options.cluster) {
    return fmt::format("cluster node {} over etcd {} (prefix {}, node TTL {})", node_name,
                       fmt::join(cluster.etcd_endpoints, ","), options.cluster->prefix,
                       FormatDuration(cluster.node_ttl.value));
  }
  if (options.persistence.data_dir.empty()) return "memory only";
  if (options.persistence.journal.fsync == FsyncPolicy::kAlways) {
    return fmt::format("data dir {} synced before each change is answered", options.persistence.data_dir);
  }
  return fmt::format("data dir {} synced every {}", options.persistence.data_dir,
                     FormatDuration(persistence.fsync_interval.value));
}

}  // namespace registryd::flags
