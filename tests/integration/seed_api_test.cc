// The seed's contract over the wire: registry_service and discovery_service
// as the Bazar's generated stubs call them.
#include <set>

#include <gtest/gtest.h>

#include "test_server.h"

namespace registryd::testing {
namespace {

class SeedApiTest : public ::testing::Test {
 protected:
  grpc::Status Register(int32_t id, const std::string& service, int32_t port, bool overloaded = false,
                        const std::string& ip = "127.0.0.1") {
    registry_service::RecordRequest request;
    request.set_serverid(id);
    request.set_serverip(ip);
    request.set_serverport(port);
    request.set_overloaded(overloaded);
    request.set_service(service);
    registry_service::QueryReply reply;
    grpc::Status status = server_.seed_registry().discovery(Context().get(), request, &reply);
    EXPECT_EQ(reply.success(), status.ok());
    return status;
  }

  grpc::Status Heartbeat(int32_t id, bool overloaded = false) {
    registry_service::RenewRequest request;
    request.set_serverid(id);
    request.set_overloaded(overloaded);
    registry_service::QueryReply reply;
    grpc::Status status = server_.seed_registry().heartBeat(Context().get(), request, &reply);
    EXPECT_EQ(reply.success(), status.ok());
    return status;
  }

  discovery_service::QueryReply Find(const std::string& service) {
    discovery_service::QueryRequest request;
    request.set_service(service);
    discovery_service::QueryReply reply;
    EXPECT_TRUE(server_.seed_discovery().findServer(Context().get(), request, &reply).ok());
    return reply;
  }

  discovery_service::QueryReply Warn(int32_t id) {
    discovery_service::ServerError request;
    request.set_serverid(id);
    discovery_service::QueryReply reply;
    EXPECT_TRUE(server_.seed_discovery().warnServerError(Context().get(), request, &reply).ok());
    return reply;
  }

  std::multiset<int32_t> FoundIds(const std::string& service, int calls) {
    std::multiset<int32_t> ids;
    for (int i = 0; i < calls; ++i) {
      const discovery_service::QueryReply reply = Find(service);
      EXPECT_TRUE(reply.querysuccess());
      ids.insert(reply.serverid());
    }
    return ids;
  }

  TestServer server_;
};

TEST_F(SeedApiTest, RegisteredServerIsFoundWithItsAddress) {
  ASSERT_TRUE(Register(7, "catalog", 8007).ok());
  const discovery_service::QueryReply reply = Find("catalog");
  EXPECT_TRUE(reply.querysuccess());
  EXPECT_EQ(reply.serverid(), 7);
  EXPECT_EQ(reply.serverip(), "127.0.0.1");
  EXPECT_EQ(reply.serverport(), 8007);
}

TEST_F(SeedApiTest, FindServerRoundRobinsOverServersThatAreNotOverloaded) {
  ASSERT_TRUE(Register(1, "orders", 8001).ok());
  ASSERT_TRUE(Register(2, "orders", 8002).ok());
  ASSERT_TRUE(Register(3, "orders", 8003, /*overloaded=*/true).ok());
  EXPECT_EQ(FoundIds("orders", 4), (std::multiset<int32_t>{1, 1, 2, 2}));
}

TEST_F(SeedApiTest, FindServerFallsBackToOverloadedServers) {
  ASSERT_TRUE(Register(1, "busy", 8001, /*overloaded=*/true).ok());
  ASSERT_TRUE(Register(2, "busy", 8002).ok());
  ASSERT_TRUE(Heartbeat(2, /*overloaded=*/true).ok());
  EXPECT_EQ(FoundIds("busy", 4), (std::multiset<int32_t>{1, 1, 2, 2}));
}

TEST_F(SeedApiTest, FindServerOfUnknownServiceSaysSoWithStatusOk) {
  EXPECT_FALSE(Find("nobody-here").querysuccess());
}

TEST_F(SeedApiTest, RegisterIsAnUpsertByServerIdAcrossServices) {
  ASSERT_TRUE(Register(5, "first", 8005).ok());
  ASSERT_TRUE(Register(5, "second", 9005).ok());
  EXPECT_FALSE(Find("first").querysuccess());
  const discovery_service::QueryReply reply = Find("second");
  EXPECT_EQ(reply.serverid(), 5);
  EXPECT_EQ(reply.serverport(), 9005);
}

TEST_F(SeedApiTest, HeartbeatStoresTheOverloadedFlag) {
  ASSERT_TRUE(Register(1, "flags", 8001).ok());
  ASSERT_TRUE(Register(2, "flags", 8002).ok());
  ASSERT_TRUE(Heartbeat(1, /*overloaded=*/true).ok());
  EXPECT_EQ(FoundIds("flags", 3), (std::multiset<int32_t>{2, 2, 2}));
}

TEST_F(SeedApiTest, HeartbeatOfUnknownIdIsNotFoundAndAsksToRegister) {
  const grpc::Status status = Heartbeat(404);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("register again"), std::string::npos);
}

TEST_F(SeedApiTest, WarnServerErrorEjectsUntilTheNextHeartbeatAndOffersAnother) {
  ASSERT_TRUE(Register(1, "shop", 8001).ok());
  ASSERT_TRUE(Register(2, "shop", 8002).ok());
  const discovery_service::QueryReply replacement = Warn(1);
  EXPECT_TRUE(replacement.querysuccess());
  EXPECT_EQ(replacement.serverid(), 2);
  EXPECT_EQ(FoundIds("shop", 3), (std::multiset<int32_t>{2, 2, 2}));

  ASSERT_TRUE(Heartbeat(1).ok());
  EXPECT_EQ(FoundIds("shop", 4), (std::multiset<int32_t>{1, 1, 2, 2}));
}

TEST_F(SeedApiTest, WarnServerErrorWithoutAnotherServerSaysSo) {
  ASSERT_TRUE(Register(1, "alone", 8001).ok());
  EXPECT_FALSE(Warn(1).querysuccess());
  EXPECT_FALSE(Find("alone").querysuccess());
}

TEST_F(SeedApiTest, WarnServerErrorOfUnknownIdChangesNothing) {
  ASSERT_TRUE(Register(1, "calm", 8001).ok());
  EXPECT_FALSE(Warn(999).querysuccess());
  EXPECT_EQ(Find("calm").serverid(), 1);
}

TEST_F(SeedApiTest, InvalidRegistrationsNameTheFieldAndChangeNothing) {
  ASSERT_TRUE(Register(1, "valid", 8001).ok());
  struct Case {
    std::string ip;
    int32_t port;
    std::string service;
    std::string field;
  };
  for (const Case& bad : {Case{"", 8001, "valid", "serverIp"}, Case{"not a host!", 8001, "valid", "serverIp"},
                          Case{"127.0.0.1", 0, "valid", "serverPort"},
                          Case{"127.0.0.1", 65536, "valid", "serverPort"},
                          Case{"127.0.0.1", -1, "valid", "serverPort"},
                          Case{"127.0.0.1", 9000, "", "service"},
                          Case{"127.0.0.1", 9000, std::string(256, 's'), "service"}}) {
    const grpc::Status status = Register(1, bad.service, bad.port, false, bad.ip);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.field;
    EXPECT_EQ(status.error_message().rfind(bad.field + ":", 0), 0u) << status.error_message();
  }
  const discovery_service::QueryReply reply = Find("valid");
  EXPECT_EQ(reply.serverid(), 1);
  EXPECT_EQ(reply.serverport(), 8001);
}

TEST_F(SeedApiTest, InvalidUtf8IsInvalidArgumentNotInternal) {
  EXPECT_EQ(Register(1, "svc\xff", 8001).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register(1, "svc", 8001, false, "host\xff").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  discovery_service::QueryRequest request;
  request.set_service("svc\xff");
  discovery_service::QueryReply reply;
  const grpc::Status status = server_.seed_discovery().findServer(Context().get(), request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "service: must be valid UTF-8");
}

TEST_F(SeedApiTest, SeedRegistrationIsVisibleThroughTheNativeApi) {
  ASSERT_TRUE(Register(42, "both", 8042).ok());
  registry::v1::DiscoverRequest request;
  request.set_service("both");
  registry::v1::DiscoverResponse reply;
  ASSERT_TRUE(server_.native().Discover(Context().get(), request, &reply).ok());
  ASSERT_EQ(reply.instances_size(), 1);
  EXPECT_EQ(reply.instances(0).instance_id(), "42");
  EXPECT_EQ(reply.instances(0).address(), "127.0.0.1:8042");
}

TEST_F(SeedApiTest, NativeRegistrationIsFoundBySeedClients) {
  registry::v1::RegisterRequest request;
  request.set_service("mixed");
  request.set_address("10.1.2.3:7000");
  request.set_instance_id("77");
  registry::v1::RegisterResponse reply;
  ASSERT_TRUE(server_.native().Register(Context().get(), request, &reply).ok());
  const discovery_service::QueryReply found = Find("mixed");
  EXPECT_TRUE(found.querysuccess());
  EXPECT_EQ(found.serverid(), 77);
  EXPECT_EQ(found.serverip(), "10.1.2.3");
  EXPECT_EQ(found.serverport(), 7000);
}

}  // namespace
}  // namespace registryd::testing
