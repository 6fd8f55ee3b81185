// The xDS protocol without gRPC: the resources registryd serves for a
// service (decoded as a client would, from their DiscoveryResponse entries)
// and the state-of-the-world rules of one ADS stream.
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/balanced_members.h"
#include "envoy/cluster.pb.h"
#include "envoy/discovery.pb.h"
#include "envoy/http_connection_manager.pb.h"
#include "envoy/listener.pb.h"
#include "envoy/route.pb.h"
#include "envoy/router.pb.h"
#include "test_specs.h"
#include "xds/ads_subscriptions.h"
#include "xds/resources.h"

namespace registryd {
namespace {

using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using test::NativeSpec;
using xds::RequestKind;
using xds::ResourceType;

// Reads an entry back as the client does: the Any in resources[0].
template <typename Message>
Message Decode(const std::string& entry, ResourceType type) {
  DiscoveryResponse response;
  EXPECT_TRUE(response.ParseFromString(entry));
  EXPECT_EQ(response.resources_size(), 1);
  Message message;
  EXPECT_EQ(response.resources(0).type_url(), xds::kTypeUrls[xds::IndexOf(type)]);
  EXPECT_TRUE(response.resources(0).UnpackTo(&message));
  return message;
}

TEST(XdsResources, ListenerRoutesOverAdsToTheRouteConfigurationOfItsNameWithTheRouterFilter) {
  const auto listener = Decode<envoy::config::listener::v3::Listener>(
      xds::NamedResourceEntry(ResourceType::kListener, "orders"), ResourceType::kListener);
  EXPECT_EQ(listener.name(), "orders");
  envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager manager;
  ASSERT_TRUE(listener.api_listener().api_listener().UnpackTo(&manager));
  ASSERT_TRUE(manager.has_rds());
  EXPECT_TRUE(manager.rds().config_source().has_ads());
  EXPECT_EQ(manager.rds().config_source().resource_api_version(), envoy::config::core::v3::V3);
  EXPECT_EQ(manager.rds().route_config_name(), "orders");
  ASSERT_EQ(manager.http_filters_size(), 1);
  EXPECT_TRUE(manager.http_filters(0).typed_config().Is<envoy::extensions::filters::http::router::v3::Router>());
}

TEST(XdsResources, RouteConfigurationSendsEveryCallToTheClusterOfItsName) {
  const auto routes = Decode<envoy::config::route::v3::RouteConfiguration>(
      xds::NamedResourceEntry(ResourceType::kRouteConfiguration, "orders"), ResourceType::kRouteConfiguration);
  EXPECT_EQ(routes.name(), "orders");
  ASSERT_EQ(routes.virtual_hosts_size(), 1);
  EXPECT_EQ(std::vector<std::string>(routes.virtual_hosts(0).domains().begin(), routes.virtual_hosts(0).domains().end()),
            std::vector<std::string>{"*"});
  ASSERT_EQ(routes.virtual_hosts(0).routes_size(), 1);
  const auto& route = routes.virtual_hosts(0).routes(0);
  EXPECT_EQ(route.match().path_specifier_case(), envoy::config::route::v3::RouteMatch::kPrefix);
  EXPECT_EQ(route.match().prefix(), "");
  EXPECT_EQ(route.route().cluster(), "orders");
}

TEST(XdsResources, ClusterIsRoundRobinOverEndpointsFromAds) {
  const auto cluster = Decode<envoy::config::cluster::v3::Cluster>(
      xds::NamedResourceEntry(ResourceType::kCluster, "orders"), ResourceType::kCluster);
  EXPECT_EQ(cluster.name(), "orders");
  EXPECT_EQ(cluster.type(), envoy::config::cluster::v3::Cluster::EDS);
  EXPECT_TRUE(cluster.eds_cluster_config().eds_config().has_ads());
  EXPECT_EQ(cluster.lb_policy(), envoy::config::cluster::v3::Cluster::ROUND_ROBIN);
}

class XdsLoadAssignment : public test::RegistryFixture {
 protected:
  XdsLoadAssignment() : RegistryFixture(RegistryOptions{}) {}

  LeaseId Add(const std::string& id, uint16_t port, bool overloaded = false, Metadata metadata = {},
              std::string host = "10.0.0.1") {
    RegisterSpec spec = NativeSpec("orders", id, std::chrono::seconds(10), port);
    spec.overloaded = overloaded;
    spec.metadata = std::move(metadata);
    spec.host = std::move(host);
    return Register(spec);
  }

  // priority -> "zone/sub_zone weight=W: port,port"
  static std::multimap<uint32_t, std::string> Shape(const ClusterLoadAssignment& assignment) {
    std::multimap<uint32_t, std::string> shape;
    for (const auto& locality : assignment.endpoints()) {
      std::string text = locality.locality().zone() + "/" + locality.locality().sub_zone() +
                         " weight=" + std::to_string(locality.load_balancing_weight().value()) + ":";
      std::vector<uint32_t> ports;
      for (const auto& endpoint : locality.lb_endpoints()) {
        EXPECT_EQ(endpoint.health_status(), envoy::config::core::v3::HEALTHY);
        ports.push_back(endpoint.endpoint().address().socket_address().port_value());
      }
      std::sort(ports.begin(), ports.end());
      for (uint32_t port : ports) text += " " + std::to_string(port);
      shape.emplace(locality.priority(), text);
    }
    return shape;
  }
};

TEST_F(XdsLoadAssignment, LiveInstancesAreHealthyEndpointsOfOneLocality) {
  Add("a", 1001);
  Add("b", 1002);
  const xds::LoadAssignment built = xds::BuildLoadAssignment(registry_, "orders");
  EXPECT_EQ(built.assignment.cluster_name(), "orders");
  EXPECT_EQ(built.revision, registry_.ServiceRevision("orders"));
  EXPECT_EQ(Shape(built.assignment), (std::multimap<uint32_t, std::string>{{0, "/ weight=2: 1001 1002"}}));
  const auto& address = built.assignment.endpoints(0).lb_endpoints(0).endpoint().address().socket_address();
  EXPECT_EQ(address.address(), "10.0.0.1");
}

TEST_F(XdsLoadAssignment, AnUnknownServiceHasNoEndpoints) {
  const xds::LoadAssignment built = xds::BuildLoadAssignment(registry_, "nobody");
  EXPECT_EQ(built.assignment.cluster_name(), "nobody");
  EXPECT_EQ(built.assignment.endpoints_size(), 0);
}

TEST_F(XdsLoadAssignment, OverloadedInstancesGoInPriorityOneWhileAnotherIsNot) {
  Add("a", 1001);
  Add("b", 1002, /*overloaded=*/true);
  Add("c", 1003, /*overloaded=*/true);
  EXPECT_EQ(Shape(xds::BuildLoadAssignment(registry_, "orders").assignment),
            (std::multimap<uint32_t, std::string>{{0, "/ weight=1: 1001"}, {1, "/ weight=2: 1002 1003"}}));
}

TEST_F(XdsLoadAssignment, WhenAllAreOverloadedTheySharePriorityZero) {
  Add("b", 1002, /*overloaded=*/true);
  Add("c", 1003, /*overloaded=*/true);
  EXPECT_EQ(Shape(xds::BuildLoadAssignment(registry_, "orders").assignment),
            (std::multimap<uint32_t, std::string>{{0, "/ weight=2: 1002 1003"}}));
}

TEST_F(XdsLoadAssignment, EjectedInstancesAreLeftOutUntilTheirNextHeartbeat) {
  Add("a", 1001);
  const LeaseId ejected = Add("b", 1002);
  ASSERT_TRUE(registry_.Eject(ejected));
  EXPECT_EQ(Shape(xds::BuildLoadAssignment(registry_, "orders").assignment),
            (std::multimap<uint32_t, std::string>{{0, "/ weight=1: 1001"}}));
  ASSERT_TRUE(registry_.Heartbeat(ejected, false).ok());
  EXPECT_EQ(Shape(xds::BuildLoadAssignment(registry_, "orders").assignment),
            (std::multimap<uint32_t, std::string>{{0, "/ weight=2: 1001 1002"}}));
}

TEST_F(XdsLoadAssignment, ZonesAreLocalitiesAndEachWeightClassIsASubZoneWeightedByItsEndpoints) {
  Add("a", 1001, false, {{"zone", "eu-1"}});
  Add("b", 1002, false, {{"zone", "eu-1"}, {"weight", "3"}});
  Add("c", 1003, false, {{"zone", "eu-1"}, {"weight", "3"}});
  Add("d", 1004, false, {{"zone", "us-1"}, {"weight", "2"}});
  const xds::LoadAssignment built = xds::BuildLoadAssignment(registry_, "orders");
  EXPECT_EQ(Shape(built.assignment), (std::multimap<uint32_t, std::string>{{0, "eu-1/ weight=1: 1001"},
                                                                          {0, "eu-1/weight-3 weight=6: 1002 1003"},
                                                                          {0, "us-1/weight-2 weight=2: 1004"}}));
  for (const auto& locality : built.assignment.endpoints()) {
    for (const auto& endpoint : locality.lb_endpoints()) {
      const uint32_t port = endpoint.endpoint().address().socket_address().port_value();
      EXPECT_EQ(endpoint.load_balancing_weight().value(), port == 1001 ? 1u : port == 1004 ? 2u : 3u);
    }
  }
}

TEST_F(XdsLoadAssignment, WeightsOutsideOneToTheMaximumCountAsOne) {
  Add("a", 1001, false, {{"weight", "0"}});
  Add("b", 1002, false, {{"weight", std::to_string(kMaxWeight + 1)}});
  Add("c", 1003, false, {{"weight", "2x"}});
  Add("d", 1004, false, {{"weight", "-5"}});
  Add("e", 1005, false, {{"weight", std::to_string(kMaxWeight)}});
  EXPECT_EQ(Shape(xds::BuildLoadAssignment(registry_, "orders").assignment),
            (std::multimap<uint32_t, std::string>{
                {0, "/ weight=4: 1001 1002 1003 1004"},
                {0, "/weight-" + std::to_string(kMaxWeight) + " weight=" + std::to_string(kMaxWeight) +
                        ": 1005"}}));
}

TEST_F(XdsLoadAssignment, InstancesWithAHostNameInsteadOfAnAddressAreLeftOutAndCounted) {
  Add("a", 1001);
  Add("b", 1002, false, {}, "orders-b.internal");
  Add("c", 1003, false, {}, "fd00::7");
  const xds::LoadAssignment built = xds::BuildLoadAssignment(registry_, "orders");
  EXPECT_EQ(built.left_out, 1u);
  EXPECT_EQ(Shape(built.assignment), (std::multimap<uint32_t, std::string>{{0, "/ weight=2: 1001 1003"}}));
}

TEST_F(XdsLoadAssignment, ExpiredInstancesAreGone) {
  Add("a", 1001);
  clock_.Advance(std::chrono::seconds(11));
  test::ExpireDue(registry_);
  EXPECT_EQ(xds::BuildLoadAssignment(registry_, "orders").assignment.endpoints_size(), 0);
}

DiscoveryRequest Request(ResourceType type, std::vector<std::string> names, std::string nonce = "") {
  DiscoveryRequest request;
  request.set_type_url(std::string(xds::kTypeUrls[xds::IndexOf(type)]));
  for (std::string& name : names) request.add_resource_names(std::move(name));
  request.set_response_nonce(std::move(nonce));
  return request;
}

TEST(AdsSubscriptions, AFirstRequestIsDueWithItsNamesSortedOnce) {
  xds::AdsSubscriptions subscriptions;
  const auto outcome = subscriptions.Apply(Request(ResourceType::kListener, {"b", "a", "b"}));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->kind, RequestKind::kSubscribe);
  EXPECT_TRUE(outcome->due);
  EXPECT_EQ(subscriptions.names(ResourceType::kListener), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(subscriptions.Due(ResourceType::kListener, {1, 2}));
  EXPECT_FALSE(subscriptions.Due(ResourceType::kCluster, {}));
}

TEST(AdsSubscriptions, AFirstRequestNamingNothingIsStillAnswered) {
  xds::AdsSubscriptions subscriptions;
  ASSERT_TRUE(subscriptions.Apply(Request(ResourceType::kCluster, {std::string(300, 'x')})).ok());
  EXPECT_TRUE(subscriptions.names(ResourceType::kCluster).empty());
  EXPECT_TRUE(subscriptions.Due(ResourceType::kCluster, {}));
}

TEST(AdsSubscriptions, AnAckIsNotAnsweredAgainButAChangedResourceIs) {
  xds::AdsSubscriptions subscriptions;
  ASSERT_TRUE(subscriptions.Apply(Request(ResourceType::kClusterLoadAssignment, {"orders"})).ok());
  const xds::SentResponse first = subscriptions.Sent(ResourceType::kClusterLoadAssignment, {7});
  EXPECT_EQ(first.version_info, "1");
  const auto ack = subscriptions.Apply(Request(ResourceType::kClusterLoadAssignment, {"orders"}, first.nonce));
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->kind, RequestKind::kAck);
  EXPECT_FALSE(ack->due);
  EXPECT_FALSE(subscriptions.Due(ResourceType::kClusterLoadAssignment, {7}));
  EXPECT_TRUE(subscriptions.Due(ResourceType::kClusterLoadAssignment, {8}));
  const xds::SentResponse second = subscriptions.Sent(ResourceType::kClusterLoadAssignment, {8});
  EXPECT_EQ(second.version_info, "2");
  EXPECT_NE(second.nonce, first.nonce);
}

TEST(AdsSubscriptions, ARequestAnsweringAnOlderResponseIsIgnored) {
  xds::AdsSubscriptions subscriptions;
  ASSERT_TRUE(subscriptions.Apply(Request(ResourceType::kCluster, {"a"})).ok());
  const std::string old_nonce = subscriptions.Sent(ResourceType::kCluster, {1}).nonce;
  ASSERT_TRUE(subscriptions.Apply(Request(ResourceType::kCluster, {"a", "b"}, old_nonce)).ok());
  subscriptions.Sent(ResourceType::kCluster, {1, 2});
  const auto stale = subscriptions.Apply(Request(ResourceType::kCluster, {"a"}, old_nonce));
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->kind, RequestKind::kStale);
  EXPECT_EQ(subscriptions.names(ResourceType::kCluster), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(subscriptions.Due(ResourceType::kCluster, {1, 2}));
}

TEST(AdsSubscriptions, ANackIsNotAnsweredWithTheSameVersionButKeepsTheSubscription) {
  xds::AdsSubscriptions subscriptions;
  ASSERT_TRUE(subscriptions.Apply(Request(ResourceType::kListener, {"a"})).ok());
  const std::string nonce = subscriptions.Sent(ResourceType::kListener, {1}).nonce;
  DiscoveryRequest nack = Request(ResourceType::kListener, {"a"}, nonce);
  nack.mutable_error_detail()->set_message("no router filter");
  const auto outcome = subscriptions.Apply(nack);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->kind, RequestKind::kNack);
  EXPECT_FALSE(subscriptions.Due(ResourceType::kListener, {1}));
}

TEST(AdsSubscriptions, ChangingTheNamesInAnAckMakesAResponseDue) {
  xds::AdsSubscriptions subscriptions;
  ASSERT_TRUE(subscriptions.Apply(Request(ResourceType::kListener, {"a"})).ok());
  const std::string nonce = subscriptions.Sent(ResourceType::kListener, {1}).nonce;
  const auto changed = subscriptions.Apply(Request(ResourceType::kListener, {"b", "a"}, nonce));
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(changed->due);
  EXPECT_TRUE(subscriptions.Due(ResourceType::kListener, {1, 2}));
  const auto reordered = subscriptions.Apply(Request(ResourceType::kListener, {"b", "a", "a"}, nonce));
  ASSERT_TRUE(reordered.ok());
  EXPECT_FALSE(reordered->due);  // the same set
  ASSERT_TRUE(subscriptions.Apply(Request(ResourceType::kListener, {}, nonce)).ok());
  EXPECT_TRUE(subscriptions.names(ResourceType::kListener).empty());
  EXPECT_TRUE(subscriptions.Due(ResourceType::kListener, {}));
}

TEST(AdsSubscriptions, AnUnservedTypeOrTooManyNamesIsInvalidArgumentNamingTheField) {
  xds::AdsSubscriptions subscriptions;
  DiscoveryRequest unknown;
  unknown.set_type_url("type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig");
  const auto refused = subscriptions.Apply(unknown);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("type_url: must be one of"), std::string::npos);
  EXPECT_NE(refused.status().message().find("TypedExtensionConfig"), std::string::npos);

  DiscoveryRequest empty;
  EXPECT_FALSE(subscriptions.Apply(empty).ok());

  std::vector<std::string> names;
  for (size_t i = 0; i <= xds::kMaxResourceNames; ++i) names.push_back("s" + std::to_string(i));
  const auto too_many = subscriptions.Apply(Request(ResourceType::kCluster, names));
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("resource_names: at most 1000 per type (got 1001)"), std::string::npos);
  names.pop_back();
  EXPECT_TRUE(subscriptions.Apply(Request(ResourceType::kCluster, names)).ok());
}

}  // namespace
}  // namespace registryd
