// registryd's flags, "Leases": TTLs, expiry, and what registryd does when it
// stalled or fell behind (core/lease_clock.h).
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "flags/duration_flag.h"
#include "server/server_options.h"

namespace registryd::flags {

struct LeaseFlags {
  DurationFlag lease_ttl{"60s", std::chrono::seconds(60)};
  DurationFlag min_ttl{"1s", std::chrono::seconds(1)};
  DurationFlag max_ttl{"1h", std::chrono::hours(1)};
  DurationFlag tick{"100ms", std::chrono::milliseconds(100)};
  DurationFlag stall_threshold{"500ms", std::chrono::milliseconds(500)};
  DurationFlag max_hold{"", Duration::zero()};  // empty: --lease-ttl
  // A request unread that long has waited hundreds of times what registryd
  // takes to answer; clients with deadlines of a second have given up on it
  // by the time it is answered.
  DurationFlag shed_unread_after{"500ms", std::chrono::milliseconds(500)};
  size_t max_sessions = RegistryOptions{}.max_sessions;
  size_t max_instances_per_session = RegistryOptions{}.max_instances_per_session;

  void AddTo(CLI::App& app);
  // What the flags cannot be together, as a message naming them.
  std::optional<std::string> Check() const;
  void ApplyTo(ServerOptions& options) const;
  Duration MaxHold() const { return max_hold.text.empty() ? lease_ttl.value : max_hold.value; }
};

}  // namespace registryd::flags
