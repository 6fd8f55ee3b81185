// registry.v1.Registry over the wire: every RPC and every error status.
#include <gtest/gtest.h>

#include "test_server.h"

namespace registryd::testing {
namespace {

using registry::v1::DeregisterRequest;
using registry::v1::DeregisterResponse;
using registry::v1::DiscoverRequest;
using registry::v1::DiscoverResponse;
using registry::v1::HeartbeatRequest;
using registry::v1::HeartbeatResponse;
using registry::v1::RegisterRequest;
using registry::v1::RegisterResponse;

ServerOptions SmallServerOptions() {
  ServerOptions options = TestServerOptions();
  options.registry.min_ttl = std::chrono::seconds(2);
  options.registry.max_ttl = std::chrono::seconds(600);
  options.registry.max_instances = 3;
  return options;
}

class NativeApiTest : public ::testing::Test {
 protected:
  RegisterRequest Request(const std::string& service, const std::string& address,
                          const std::string& instance_id = "") {
    RegisterRequest request;
    request.set_service(service);
    request.set_address(address);
    request.set_instance_id(instance_id);
    return request;
  }

  grpc::Status Register(const RegisterRequest& request, RegisterResponse* reply) {
    return server_.native().Register(Context().get(), request, reply);
  }

  grpc::Status Heartbeat(uint64_t lease, bool overloaded = false, HeartbeatResponse* reply = nullptr) {
    HeartbeatRequest request;
    request.set_lease_id(lease);
    request.set_overloaded(overloaded);
    HeartbeatResponse ignored;
    return server_.native().Heartbeat(Context().get(), request, reply ? reply : &ignored);
  }

  grpc::Status Deregister(uint64_t lease) {
    DeregisterRequest request;
    request.set_lease_id(lease);
    DeregisterResponse reply;
    return server_.native().Deregister(Context().get(), request, &reply);
  }

  DiscoverResponse Discover(const std::string& service, bool exclude_overloaded = false) {
    DiscoverRequest request;
    request.set_service(service);
    request.set_exclude_overloaded(exclude_overloaded);
    DiscoverResponse reply;
    EXPECT_TRUE(server_.native().Discover(Context().get(), request, &reply).ok());
    return reply;
  }

  TestServer server_{SmallServerOptions()};
};

TEST_F(NativeApiTest, RegisterGrantsALeaseAndDiscoverReturnsTheInstance) {
  RegisterRequest request = Request("search", "[::1]:9200", "node-a");
  (*request.mutable_metadata())["zone"] = "eu-1";
  RegisterResponse reply;
  ASSERT_TRUE(Register(request, &reply).ok());
  EXPECT_NE(reply.lease_id(), 0u);
  EXPECT_EQ(reply.ttl_ms(), 60'000u);  // the server default
  EXPECT_EQ(reply.instance_id(), "node-a");

  const DiscoverResponse found = Discover("search");
  ASSERT_EQ(found.instances_size(), 1);
  const registry::v1::Instance& instance = found.instances(0);
  EXPECT_EQ(instance.service(), "search");
  EXPECT_EQ(instance.instance_id(), "node-a");
  EXPECT_EQ(instance.address(), "[::1]:9200");
  EXPECT_EQ(instance.metadata().at("zone"), "eu-1");
  EXPECT_FALSE(instance.overloaded());
  EXPECT_GT(instance.ttl_remaining_ms(), 0u);
  EXPECT_LE(instance.ttl_remaining_ms(), 60'000u);
  EXPECT_GT(found.revision(), 0u);
}

TEST_F(NativeApiTest, RequestedTtlIsClampedToTheServerBounds) {
  RegisterRequest request = Request("ttl", "127.0.0.1:1", "low");
  request.set_ttl_ms(1);
  RegisterResponse reply;
  ASSERT_TRUE(Register(request, &reply).ok());
  EXPECT_EQ(reply.ttl_ms(), 2'000u);

  request = Request("ttl", "127.0.0.1:2", "high");
  request.set_ttl_ms(3'600'000);
  ASSERT_TRUE(Register(request, &reply).ok());
  EXPECT_EQ(reply.ttl_ms(), 600'000u);
}

TEST_F(NativeApiTest, ServerAssignsAnInstanceIdWhenNoneIsGiven) {
  RegisterResponse first;
  RegisterResponse second;
  ASSERT_TRUE(Register(Request("anon", "127.0.0.1:1"), &first).ok());
  ASSERT_TRUE(Register(Request("anon", "127.0.0.1:1"), &second).ok());
  EXPECT_FALSE(first.instance_id().empty());
  EXPECT_NE(first.instance_id(), second.instance_id());
  EXPECT_NE(first.lease_id(), second.lease_id());
  EXPECT_EQ(Discover("anon").instances_size(), 2);
}

TEST_F(NativeApiTest, ReRegisteringUpdatesInPlaceAndKeepsTheLease) {
  RegisterResponse first;
  ASSERT_TRUE(Register(Request("web", "127.0.0.1:80", "w1"), &first).ok());
  const uint64_t revision = Discover("web").revision();

  RegisterRequest update = Request("web", "127.0.0.1:8080", "w1");
  (*update.mutable_metadata())["version"] = "2";
  RegisterResponse second;
  ASSERT_TRUE(Register(update, &second).ok());
  EXPECT_EQ(second.lease_id(), first.lease_id());

  const DiscoverResponse found = Discover("web");
  ASSERT_EQ(found.instances_size(), 1);
  EXPECT_EQ(found.instances(0).address(), "127.0.0.1:8080");
  EXPECT_EQ(found.instances(0).metadata().at("version"), "2");
  EXPECT_GT(found.revision(), revision);
}

TEST_F(NativeApiTest, HeartbeatRenewsAndStoresOverloaded) {
  RegisterResponse registered;
  ASSERT_TRUE(Register(Request("beat", "127.0.0.1:1", "b1"), &registered).ok());
  HeartbeatResponse reply;
  ASSERT_TRUE(Heartbeat(registered.lease_id(), /*overloaded=*/true, &reply).ok());
  EXPECT_EQ(reply.ttl_ms(), 60'000u);
  EXPECT_TRUE(Discover("beat").instances(0).overloaded());
  EXPECT_EQ(Discover("beat", /*exclude_overloaded=*/true).instances_size(), 0);
}

TEST_F(NativeApiTest, HeartbeatOfUnknownLeaseIsNotFound) {
  EXPECT_EQ(Heartbeat(0x1234567890abcdefULL).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(NativeApiTest, DeregisterRemovesAtOnceAndTheLeaseIsGone) {
  RegisterResponse registered;
  ASSERT_TRUE(Register(Request("bye", "127.0.0.1:1", "x"), &registered).ok());
  ASSERT_TRUE(Deregister(registered.lease_id()).ok());
  EXPECT_EQ(Discover("bye").instances_size(), 0);
  EXPECT_EQ(Heartbeat(registered.lease_id()).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Deregister(registered.lease_id()).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(NativeApiTest, ListServicesCountsInstancesPerService) {
  RegisterResponse ignored;
  ASSERT_TRUE(Register(Request("b-service", "127.0.0.1:1", "b1"), &ignored).ok());
  ASSERT_TRUE(Register(Request("b-service", "127.0.0.1:2", "b2"), &ignored).ok());
  ASSERT_TRUE(Register(Request("a-service", "127.0.0.1:3", "a1"), &ignored).ok());
  registry::v1::ListServicesResponse reply;
  ASSERT_TRUE(server_.native()
                  .ListServices(Context().get(), registry::v1::ListServicesRequest(), &reply)
                  .ok());
  ASSERT_EQ(reply.services_size(), 2);
  EXPECT_EQ(reply.services(0).name(), "a-service");
  EXPECT_EQ(reply.services(0).instances(), 1u);
  EXPECT_EQ(reply.services(1).name(), "b-service");
  EXPECT_EQ(reply.services(1).instances(), 2u);
}

TEST_F(NativeApiTest, InvalidFieldsAreRejectedByName) {
  struct Case {
    RegisterRequest request;
    std::string field;
  };
  std::vector<Case> cases = {
      {Request("", "127.0.0.1:1"), "service"},
      {Request(std::string(256, 'x'), "127.0.0.1:1"), "service"},
      {Request("svc\n", "127.0.0.1:1"), "service"},
      {Request("svc", "127.0.0.1"), "address"},
      {Request("svc", "127.0.0.1:0"), "address"},
      {Request("svc", "127.0.0.1:http"), "address"},
      {Request("svc", "::1:80"), "address"},
      {Request("svc", "bad host:80"), "address"},
      {Request("svc", "127.0.0.1:1", std::string(129, 'i')), "instance_id"},
  };
  RegisterRequest too_many = Request("svc", "127.0.0.1:1");
  for (int i = 0; i < 33; ++i) (*too_many.mutable_metadata())["k" + std::to_string(i)] = "v";
  cases.push_back({too_many, "metadata"});
  RegisterRequest too_big = Request("svc", "127.0.0.1:1");
  (*too_big.mutable_metadata())["blob"] = std::string(5000, 'b');
  cases.push_back({too_big, "metadata"});

  for (const Case& bad : cases) {
    RegisterResponse reply;
    const grpc::Status status = Register(bad.request, &reply);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.field;
    EXPECT_EQ(status.error_message().rfind(bad.field + ":", 0), 0u) << status.error_message();
  }
  EXPECT_EQ(Discover("svc").instances_size(), 0);
}

TEST_F(NativeApiTest, InvalidUtf8IsInvalidArgumentNotInternal) {
  const std::string invalid = "svc\xff\xfe";
  RegisterResponse reply;
  grpc::Status status = Register(Request(invalid, "127.0.0.1:1"), &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "service: must be valid UTF-8");

  RegisterRequest bad_metadata = Request("svc", "127.0.0.1:1");
  (*bad_metadata.mutable_metadata())["zone"] = "\xc0\x80";  // an overlong NUL
  status = Register(bad_metadata, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("metadata:", 0), 0u) << status.error_message();

  DiscoverRequest discover;
  discover.set_service(invalid);
  DiscoverResponse found;
  EXPECT_EQ(server_.native().Discover(Context().get(), discover, &found).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Discover("svc").instances_size(), 0);
}

TEST_F(NativeApiTest, LastMetadataEntryOfAKeyWinsAsInProtobufMaps) {
  // Two entries for one key, as a client may put on the wire.
  RegisterRequest request = Request("maps", "127.0.0.1:1", "m1");
  (*request.mutable_metadata())["zone"] = "first";
  std::string bytes = request.SerializeAsString();
  RegisterRequest second;
  (*second.mutable_metadata())["zone"] = "second";
  bytes += second.SerializeAsString();
  RegisterRequest merged;
  ASSERT_TRUE(merged.ParseFromString(bytes));
  RegisterResponse reply;
  ASSERT_TRUE(Register(merged, &reply).ok());
  EXPECT_EQ(Discover("maps").instances(0).metadata().at("zone"), "second");
}

TEST_F(NativeApiTest, RegistryFullIsResourceExhaustedAndKeepsWhatItHas) {
  RegisterResponse reply;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Register(Request("full", "127.0.0.1:1", std::to_string(i)), &reply).ok());
  }
  const grpc::Status status = Register(Request("full", "127.0.0.1:1", "one-too-many"), &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("--max-instances=3"), std::string::npos);
  // Updating an existing instance needs no room.
  EXPECT_TRUE(Register(Request("full", "127.0.0.1:2", "0"), &reply).ok());
  EXPECT_EQ(Discover("full").instances_size(), 3);
}

TEST_F(NativeApiTest, OversizedMessageIsResourceExhausted) {
  RegisterRequest huge = Request("svc", "127.0.0.1:1");
  (*huge.mutable_metadata())["blob"] = std::string(100 * 1024, 'b');
  RegisterResponse reply;
  EXPECT_EQ(Register(huge, &reply).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(Register(Request("svc", "127.0.0.1:1", "after"), &reply).ok());
}

}  // namespace
}  // namespace registryd::testing
