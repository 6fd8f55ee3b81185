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

// Each kind of session request, the registration with every field.
TEST(LenientWireTest, SessionRequest) {
  registry::v1::SessionRequest open;
  open.set_request_id(1);
  open.mutable_open()->set_ttl_ms(9000);
  open.mutable_open()->set_grace_ms(0);
  ExpectRoundTrip<lenient::SessionRequest>(open);

  registry::v1::SessionRequest resume;
  resume.set_request_id(2);
  resume.mutable_resume()->set_session_id(0xfeedface'00000001);
  resume.mutable_resume()->set_token(std::string(16, '\x7f'));
  ExpectRoundTrip<lenient::SessionRequest>(resume);

  registry::v1::SessionRequest registration;
  registration.set_request_id(3);
  for (const char* id : {"orders-1", "orders-2"}) {
    registry::v1::RegisterRequest& instance = *registration.mutable_register_()->add_instances();
    instance.set_service("orders");
    instance.set_address("10.0.0.1:80");
    instance.set_instance_id(id);
    (*instance.mutable_metadata())["zone"] = "eu-1";
    instance.set_ttl_ms(5000);
    instance.set_overloaded(true);
  }
  ExpectRoundTrip<lenient::SessionRequest>(registration);

  registry::v1::SessionRequest deregistration;
  deregistration.set_request_id(4);
  deregistration.mutable_deregister()->add_lease_ids(7);
  deregistration.mutable_deregister()->add_lease_ids(8);
  ExpectRoundTrip<lenient::SessionRequest>(deregistration);

  registry::v1::SessionRequest keep_alive;
  keep_alive.set_request_id(5);
  keep_alive.mutable_keep_alive();
  ExpectRoundTrip<lenient::SessionRequest>(keep_alive);

  registry::v1::SessionRequest close;
  close.set_request_id(6);
  close.mutable_close();
  ExpectRoundTrip<lenient::SessionRequest>(close);
}

TEST(LenientWireTest, HealthCheckRequest) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("registry.v1.Registry");
  ExpectRoundTrip<lenient::HealthCheckRequest>(request);
}

}  // namespace
}  // namespace registryd::testing
