// Every flag of registryd, by group as --help shows them, and the server's
// options made from them.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/status/statusor.h"
#include "flags/cluster_flags.h"
#include "flags/dns_flags.h"
#include "flags/http_flags.h"
#include "flags/lease_flags.h"
#include "flags/logging_flags.h"
#include "flags/persistence_flags.h"
#include "flags/security_flags.h"
#include "flags/serving_flags.h"
#include "flags/xds_flags.h"

namespace registryd::flags {

struct RegistrydFlags {
  ServingFlags serving;
  LeaseFlags leases;
  PersistenceFlags persistence;
  SecurityFlags security;
  ClusterFlags cluster;
  HttpFlags http;
  DnsFlags dns;
  XdsFlags xds;
  LoggingFlags logging;
  bool print_config = false;
  bool check_config = false;  // main runs the check before parsing (flags/config_check.h)

  // Every group in --help's order, then --config, --print-config and --version.
  void AddTo(CLI::App& app);
  // What the flags cannot be together, as a message naming them.
  std::optional<std::string> Check() const;
  // The server's options: reads the files the flags name (certificates,
  // policy, tokens, the data dir's shard count); an error names the file.
  absl::StatusOr<ServerOptions> ToServerOptions() const;
  // The settings as the dashboard lists them.
  std::vector<std::pair<std::string, std::string>> Settings(const ServerOptions& options) const;
  // "data dir D synced every 10ms", "memory only", "cluster node ...".
  std::string DescribeStorage(const ServerOptions& options, const std::string& node_name) const;
};

}  // namespace registryd::flags
