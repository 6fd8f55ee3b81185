// registryd's flags, "Serving": where and how the gRPC port serves.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "flags/duration_flag.h"
#include "server/server_options.h"

namespace registryd::flags {

struct ServingFlags {
  std::string listen = "[::]:50051";
  uint32_t threads;  // one per core
  size_t max_instances = RegistryOptions{}.max_instances;
  size_t watch_history = RegistryOptions{}.change_log_capacity;
  DurationFlag shutdown_timeout{"5s", std::chrono::seconds(5)};
  std::string seed_api = "on";

  ServingFlags();
  void AddTo(CLI::App& app);
  void ApplyTo(ServerOptions& options) const;
};

}  // namespace registryd::flags
