// registryd's flags, "Persistence": the data dir and its journal.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"
#include "flags/duration_flag.h"
#include "server/server_options.h"

namespace registryd::flags {

struct PersistenceFlags {
  std::string data_dir = "registryd.data";
  DurationFlag restore_spread{"5s", std::chrono::seconds(5)};
  DurationFlag fsync_interval{"10ms", std::chrono::milliseconds(10)};
  std::string fsync = "batch";

  void AddTo(CLI::App& app);
  void ApplyTo(ServerOptions& options) const;
  // A data dir keeps the shard count it was written with (stored lease ids
  // carry their shard), whatever --threads is now: after the serving flags.
  static absl::Status KeepStoredShardCount(ServerOptions& options);
};

}  // namespace registryd::flags
