// What registryd serves to an xDS client for a target "xds:///NAME": a
// Listener NAME whose HttpConnectionManager takes its routes over ADS
// (RouteConfiguration NAME), one virtual host sending every call to the
// EDS Cluster NAME, and the ClusterLoadAssignment NAME of the service's
// live instances. Any valid service name has the first three, so an unknown
// service resolves to a cluster without endpoints and its calls fail at once
// with UNAVAILABLE instead of waiting for the resource to time out.
//
// Each is returned as its DiscoveryResponse.resources entry: the field's tag
// and length, then the Any holding the resource. A response is those
// entries after its own few fields, so an entry serialized once is sent as
// is by every stream (protobuf reads fields in any order).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/registry.h"
#include "envoy/endpoint.pb.h"
#include "xds/resource_type.h"

namespace registryd::xds {

// The entry of a Listener, RouteConfiguration or Cluster, which depend on
// the name alone.
std::string NamedResourceEntry(ResourceType type, std::string_view name);

// A service's ClusterLoadAssignment as the registry shows it now, its
// balanced members (core/balanced_members.h: ejected ones left out,
// overloaded ones in priority 1 while any is not, weights):
// - live instances are HEALTHY endpoints, but for those whose host is not
//   an IP address (gRPC's clients reject the whole assignment otherwise);
// - a locality per (zone metadata, weight): Debian's gRPC 1.51 balances
//   round robin within a locality and by locality weight across localities,
//   ignoring endpoint weights, so each weight class is a locality of its own
//   (sub_zone "weight-N") weighted N times its endpoints: every endpoint gets
//   calls in proportion to its weight. Endpoint weights are set too.
struct LoadAssignment {
  envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
  uint64_t revision = 0;  // the service's, as read
  size_t left_out = 0;    // live instances without an IP address
};
LoadAssignment BuildLoadAssignment(Registry& registry, std::string_view service);
// Its resources entry.
std::string LoadAssignmentEntry(const envoy::config::endpoint::v3::ClusterLoadAssignment& assignment);

}  // namespace registryd::xds
