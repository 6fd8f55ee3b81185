#include "core/lease_id.h"

#include <functional>

#include "absl/random/random.h"

namespace registryd {
namespace {

absl::BitGen& ThreadGenerator() {
  thread_local absl::BitGen generator;
  return generator;
}

}  // namespace

uint64_t RandomId() { return absl::Uniform<uint64_t>(ThreadGenerator()); }

uint32_t LeaseRouteOf(std::string_view service) {
  return static_cast<uint32_t>(std::hash<std::string_view>{}(service) & ((1u << kMaxShardBits) - 1));
}

LeaseId NewLeaseId(uint32_t route) {
  constexpr uint64_t kRouteMask = (uint64_t{1} << kMaxShardBits) - 1;
  for (;;) {
    const LeaseId lease = (RandomId() & ~kRouteMask) | (route & kRouteMask);
    if (lease != kNoLease) return lease;
  }
}

}  // namespace registryd
