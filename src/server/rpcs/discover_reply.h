// A service's live instances as a registry.v1.DiscoverResponse: what the
// Discover RPC serializes (and caches) and the HTTP face prints as JSON.
#pragma once

#include <string_view>

#include "core/registry.h"
#include "registry/v1/registry.pb.h"

namespace registryd {

// Fills `response` (instances and revision) as of `now`; returns the
// earliest deadline among them, TimePoint::max() when there is none.
TimePoint FillDiscoverResponse(Registry& registry, std::string_view service, bool exclude_overloaded, TimePoint now,
                               registry::v1::DiscoverResponse& response);

}  // namespace registryd
