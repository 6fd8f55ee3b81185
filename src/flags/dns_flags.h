// registryd's flags, "DNS face": services found by name (README, DNS).
#pragma once

#include <CLI/CLI.hpp>

#include "absl/status/statusor.h"
#include "dns/dns_answerer.h"
#include "flags/duration_flag.h"

namespace registryd::flags {

struct DnsFlags {
  std::string listen = "127.0.0.1:8600";
  std::string domain = "registryd.";
  DurationFlag ttl{"0s", Duration::zero()};

  void AddTo(CLI::App& app);
  // The face's options; INVALID_ARGUMENT naming --dns-domain when it is not a domain.
  absl::StatusOr<dns::DnsOptions> Options() const;
};

}  // namespace registryd::flags
