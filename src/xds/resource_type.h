// The four xDS resource types a proxyless gRPC client asks for, in the order
// it asks for them: a target's Listener names its RouteConfiguration, whose
// route names a Cluster, whose endpoints are a ClusterLoadAssignment.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace registryd::xds {

enum class ResourceType : uint8_t { kListener, kRouteConfiguration, kCluster, kClusterLoadAssignment };
inline constexpr size_t kResourceTypes = 4;

inline constexpr std::array<std::string_view, kResourceTypes> kTypeUrls = {
    "type.googleapis.com/envoy.config.listener.v3.Listener",
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
};

inline constexpr size_t IndexOf(ResourceType type) { return static_cast<size_t>(type); }

inline std::optional<ResourceType> TypeOfUrl(std::string_view type_url) {
  for (size_t index = 0; index < kResourceTypes; ++index) {
    if (kTypeUrls[index] == type_url) return static_cast<ResourceType>(index);
  }
  return std::nullopt;
}

}  // namespace registryd::xds
