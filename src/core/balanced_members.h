// A service's live instances as the balancing faces hand them out (xDS's
// endpoints, DNS's SRV records): the same view as findServer's.
// - Ejected instances (warnServerError) are left out until their next
//   heartbeat (Discover does that).
// - An overloaded instance goes in priority 1 while any instance is not
//   overloaded, so it is used only when priority 0 is gone; when all are
//   overloaded they share priority 0.
// - The `weight` metadata entry (1..kMaxWeight) is the instance's weight;
//   other values count as 1. Bounded so that xDS's locality weights
//   (weight times endpoints) stay far below 2^32 at the instance limit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/instance.h"
#include "core/registry.h"

namespace registryd {

inline constexpr uint32_t kMaxWeight = 100;

struct BalancedMember {
  std::string instance_id;
  std::string host;  // an IP address, or a name
  uint16_t port = 0;
  bool overloaded = false;
  uint32_t priority = 0;
  uint32_t weight = 1;
  std::string zone;   // the `zone` metadata entry
  Metadata metadata;  // all of it, when asked for
};

struct BalancedMembers {
  uint64_t revision = 0;  // the service's, as read (Registry::ServiceRevision)
  std::vector<BalancedMember> members;
  size_t left_out = 0;  // live instances whose host is a name, under ip_hosts_only
};

struct BalancedRead {
  bool with_metadata = false;  // copy every metadata entry too
  // Only instances whose host is an IP address (a face whose clients cannot
  // take a name); the priorities are those among them.
  bool ip_hosts_only = false;
};

// Copies the members out under the service's shard lock, then sets their
// priorities.
BalancedMembers ReadBalancedMembers(Registry& registry, std::string_view service, BalancedRead how);

// The weight a `weight` metadata value asks for.
uint32_t WeightOf(std::string_view text);

}  // namespace registryd
