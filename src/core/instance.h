// What the registry keeps per registered instance, and the values that cross
// the core's boundary. Plain data: no locking, no gRPC.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/lease_id.h"

namespace registryd {

// Sorted by key, keys unique.
using Metadata = std::vector<std::pair<std::string, std::string>>;

// Where a seed client is sent: the seed's QueryReply fields.
struct Endpoint {
  int32_t server_id;
  std::string host;
  uint16_t port;
};

// A validated registration, from either API.
struct RegisterSpec {
  std::string service;
  std::string instance_id;  // empty: the registry assigns one
  std::string host;
  uint16_t port = 0;
  Metadata metadata;
  Duration ttl{};  // already clamped to the server's bounds
  bool overloaded = false;
  // The seed API's serverId: set for seed registrations, and for native ones
  // whose instance id is a canonical decimal int32 (see SeedIdOf).
  std::optional<int32_t> seed_id;
};

struct RegisterResult {
  LeaseId lease;
  std::string instance_id;
  Duration ttl;
  bool created;  // false: an existing instance was updated
};

// The seed id a native instance id stands for: "42" and "-7" do, "042",
// "+7" and "web-1" do not (one id, one spelling, so the id maps to one key).
std::optional<int32_t> SeedIdOf(std::string_view instance_id);

struct ServiceState;

// One live instance. Owned by its shard; addresses are stable for its life.
struct InstanceRecord {
  LeaseId lease;
  ServiceState* service;
  std::string instance_id;
  std::string host;
  Metadata metadata;
  TimePoint deadline;
  // The tick of the lease's timer-wheel entry. An older entry left behind
  // when the deadline moved earlier is dropped when it comes round.
  TimePoint filed_at;
  Duration ttl;
  uint32_t member_index;  // position in service->members
  uint16_t port;
  bool overloaded;
  // A client reported it unreachable (seed warnServerError): out of discovery
  // until its next heartbeat.
  bool ejected;
  // The serverId seed clients know it by; without one, findServer never
  // offers it (a seed client could not name it in warnServerError).
  std::optional<int32_t> seed_id;
  // "host:port", with brackets around an IPv6 host.
  std::string Address() const;
};

}  // namespace registryd
