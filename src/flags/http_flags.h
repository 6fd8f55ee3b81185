// registryd's flags, "HTTP face": /metrics, probes, the dashboard.
#pragma once

#include <CLI/CLI.hpp>

#include "flags/duration_flag.h"
#include "flags/security_flags.h"
#include "http/http_server.h"

namespace registryd::flags {

struct HttpFlags {
  http::HttpOptions http;
  DurationFlag answer_deadline{"30s", std::chrono::seconds(30)};

  void AddTo(CLI::App& app);
  // HTTPS with the gRPC port's certificate, when it has one.
  http::HttpOptions Options(const SecurityFlags& security) const;
};

}  // namespace registryd::flags
