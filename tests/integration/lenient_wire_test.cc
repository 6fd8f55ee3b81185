// The server parses text-carrying requests as registryd::lenient copies
// (protos/registryd/lenient_requests.proto). These tests keep the copies
// wire-identical to the API's messages: every field survives API → lenient →
// API, so a change to one side that the other misses fails here.
#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include "discovery_service.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "registryd/lenient_requests.pb.h"
#include "registry/v1/registry.pb.h"
#include "registry_service.pb.h"

namespace registryd::testing {
namespace {

template <typename Lenient, typename Api>
void ExpectRoundTrip(const Api& original) {
  Lenient lenient;
  ASSERT_TRUE(lenient.ParseFromString(original.SerializeAsString()));
  EXPECT_TRUE(lenient.GetReflection()->GetUnknownFields(lenient).empty())
      << "a field the lenient copy does not know";
  Api back;
  ASSERT_TRUE(back.ParseFromString(lenient.SerializeAsString()));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(original, back))
      << original.DebugString() << " came back as " << back.DebugString();
}

TEST(LenientWireTest, RecordRequest) {
  registry_service::RecordRequest request;
  request.set_serverid(-42);
  request.set_serverip("10.0.0.1");
  request.set_serverport(8080);
  request.set_overloaded(true);
  request.set_service("catalog");
  ExpectRoundTrip<lenient::RecordRequest>(request);
}

TEST(LenientWireTest, QueryRequest) {
  discovery_service::QueryRequest request;
  request.set_service("catalog");
  ExpectRoundTrip<lenient::QueryRequest>(request);
}

TEST(LenientWireTest, RegisterRequest) {
  registry::v1::RegisterRequest request;
  request.set_service("orders");
  request.set_address("[::1]:80");
  request.set_instance_id("orders-1");
  (*request.mutable_metadata())["zone"] = "eu-1";
  (*request.mutable_metadata())["version"] = "2.3";
  request.set_ttl_ms(5000);
  request.set_overloaded(true);
  ExpectRoundTrip<lenient::RegisterRequest>(request);
}

TEST(LenientWireTest, DiscoverRequest) {
  registry::v1::DiscoverRequest request;
  request.set_service("orders");
  request.set_exclude_overloaded(true);
  ExpectRoundTrip<lenient::DiscoverRequest>(request);
}

TEST(LenientWireTest, WatchRequest) {
  registry::v1::WatchRequest request;
  request.set_service("catalog");
  request.set_since_revision(1'790'000'000'000'000);
  ExpectRoundTrip<lenient::WatchRequest>(request);
}

TEST(LenientWireTest, HealthCheckRequest) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("registry.v1.Registry");
  ExpectRoundTrip<lenient::HealthCheckRequest>(request);
}

}  // namespace
}  // namespace registryd::testing
