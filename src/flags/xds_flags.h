// registryd's flags, "xDS": standard gRPC clients balancing over the registry.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "server/server_options.h"

namespace registryd::flags {

struct XdsFlags {
  std::string xds = "on";

  void AddTo(CLI::App& app);
  void ApplyTo(ServerOptions& options) const { options.xds = xds == "on"; }
};

}  // namespace registryd::flags
