// Builders and drivers shared by the core unit tests.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/instance.h"
#include "core/registry.h"

namespace registryd::test {

inline constexpr Duration kSeedTtl = std::chrono::seconds(60);

// A native registration at 10.0.0.1:`port`.
inline RegisterSpec NativeSpec(std::string service, std::string instance_id, Duration ttl,
                               uint16_t port = 8080) {
  RegisterSpec spec;
  spec.service = std::move(service);
  spec.instance_id = std::move(instance_id);
  spec.host = "10.0.0.1";
  spec.port = port;
  spec.ttl = ttl;
  return spec;
}

// What the seed's discovery() handler builds: the serverId doubles as the
// instance id, the lease is the server's default TTL.
inline RegisterSpec SeedSpec(int32_t server_id, std::string service, bool overloaded = false,
                             uint16_t port = 7000) {
  RegisterSpec spec;
  spec.service = std::move(service);
  spec.instance_id = std::to_string(server_id);
  spec.host = "10.0.1." + std::to_string(server_id);
  spec.port = port;
  spec.ttl = kSeedTtl;
  spec.overloaded = overloaded;
  spec.seed_id = server_id;
  return spec;
}

// A registry on a clock that moves only when told to.
class RegistryFixture : public ::testing::Test {
 protected:
  explicit RegistryFixture(const RegistryOptions& options) : registry_(options, clock_) {}

  // Registers through the native API; the registration must succeed.
  LeaseId Register(const RegisterSpec& spec) {
    const absl::StatusOr<RegisterResult> result = registry_.Register(spec);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->lease : kNoLease;
  }

  ManualClock clock_;
  Registry registry_;
};

// Runs expiry on every shard until none has due work left, as the server's
// alarms would; returns what expired.
inline std::vector<Removal> ExpireDue(Registry& registry) {
  std::vector<Removal> expired;
  for (uint32_t shard = 0; shard < registry.shard_count(); ++shard) {
    int calls = 0;
    while (registry.Advance(shard, expired)) {
      if (++calls == 100'000) {
        ADD_FAILURE() << "Advance(" << shard << ") keeps reporting due work";
        break;
      }
    }
  }
  return expired;
}

// The instance ids Discover returns, sorted.
inline std::vector<std::string> DiscoveredIds(Registry& registry, std::string_view service,
                                              bool exclude_overloaded = false) {
  std::vector<std::string> ids;
  registry.Discover(service, exclude_overloaded,
                    [&](const InstanceRecord& record) { ids.emplace_back(record.instance_id()); });
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace registryd::test
