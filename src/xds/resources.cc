#include "xds/resources.h"

#include <map>
#include <tuple>

#include "core/balanced_members.h"
#include "envoy/cluster.pb.h"
#include "envoy/discovery.pb.h"
#include "envoy/http_connection_manager.pb.h"
#include "envoy/listener.pb.h"
#include "envoy/route.pb.h"
#include "envoy/router.pb.h"

namespace registryd::xds {
namespace {

namespace core = envoy::config::core::v3;
namespace endpoint = envoy::config::endpoint::v3;
namespace hcm = envoy::extensions::filters::network::http_connection_manager::v3;

// The entry of `resource` in DiscoveryResponse.resources.
std::string Entry(const google::protobuf::Message& resource) {
  envoy::service::discovery::v3::DiscoveryResponse holder;
  holder.add_resources()->PackFrom(resource);
  return holder.SerializeAsString();
}

void OverAds(core::ConfigSource& source) {
  source.mutable_ads();
  source.set_resource_api_version(core::V3);
}

std::string ListenerEntry(std::string_view name) {
  hcm::HttpConnectionManager manager;
  hcm::Rds& rds = *manager.mutable_rds();
  OverAds(*rds.mutable_config_source());
  rds.set_route_config_name(std::string(name));
  // gRPC's clients refuse a listener without the router filter, last.
  hcm::HttpFilter& router = *manager.add_http_filters();
  router.set_name("envoy.filters.http.router");
  router.mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router());
  envoy::config::listener::v3::Listener listener;
  listener.set_name(std::string(name));
  listener.mutable_api_listener()->mutable_api_listener()->PackFrom(manager);
  return Entry(listener);
}

std::string RouteConfigurationEntry(std::string_view name) {
  envoy::config::route::v3::RouteConfiguration routes;
  routes.set_name(std::string(name));
  envoy::config::route::v3::VirtualHost& host = *routes.add_virtual_hosts();
  host.set_name(std::string(name));
  host.add_domains("*");
  envoy::config::route::v3::Route& route = *host.add_routes();
  route.mutable_match()->set_prefix("");
  route.mutable_route()->set_cluster(std::string(name));
  return Entry(routes);
}

std::string ClusterEntry(std::string_view name) {
  envoy::config::cluster::v3::Cluster cluster;
  cluster.set_name(std::string(name));
  cluster.set_type(envoy::config::cluster::v3::Cluster::EDS);
  OverAds(*cluster.mutable_eds_cluster_config()->mutable_eds_config());
  cluster.set_lb_policy(envoy::config::cluster::v3::Cluster::ROUND_ROBIN);
  return Entry(cluster);
}

}  // namespace

std::string NamedResourceEntry(ResourceType type, std::string_view name) {
  switch (type) {
    case ResourceType::kListener:
      return ListenerEntry(name);
    case ResourceType::kRouteConfiguration:
      return RouteConfigurationEntry(name);
    case ResourceType::kCluster:
      return ClusterEntry(name);
    case ResourceType::kClusterLoadAssignment:
      break;
  }
  return {};
}

LoadAssignment BuildLoadAssignment(Registry& registry, std::string_view service) {
  LoadAssignment result;
  BalancedMembers read = ReadBalancedMembers(registry, service, {.ip_hosts_only = true});
  result.revision = read.revision;
  result.left_out = read.left_out;
  // (priority, zone, weight) -> the locality's endpoints, in a stable order.
  std::map<std::tuple<uint32_t, std::string, uint32_t>, endpoint::LocalityLbEndpoints> localities;
  for (BalancedMember& member : read.members) {
    endpoint::LocalityLbEndpoints& locality = localities[{member.priority, member.zone, member.weight}];
    endpoint::LbEndpoint& lb_endpoint = *locality.add_lb_endpoints();
    core::SocketAddress& address = *lb_endpoint.mutable_endpoint()->mutable_address()->mutable_socket_address();
    address.set_address(std::move(member.host));
    address.set_port_value(member.port);
    lb_endpoint.set_health_status(core::HEALTHY);
    lb_endpoint.mutable_load_balancing_weight()->set_value(member.weight);
  }
  endpoint::ClusterLoadAssignment& assignment = result.assignment;
  assignment.set_cluster_name(std::string(service));
  for (auto& [key, locality] : localities) {
    const auto& [priority, zone, weight] = key;
    core::Locality& name = *locality.mutable_locality();
    name.set_zone(zone);
    if (weight != 1) name.set_sub_zone("weight-" + std::to_string(weight));
    // gRPC's clients skip a locality without a weight.
    locality.mutable_load_balancing_weight()->set_value(weight * static_cast<uint32_t>(locality.lb_endpoints_size()));
    locality.set_priority(priority);
    *assignment.add_endpoints() = std::move(locality);
  }
  return result;
}

std::string LoadAssignmentEntry(const endpoint::ClusterLoadAssignment& assignment) { return Entry(assignment); }

}  // namespace registryd::xds
