// Lease expiry through the real alarm path: short TTLs, waiting for the
// condition (never asserting how long it took).
#include <string>

#include <gtest/gtest.h>

#include "test_server.h"

namespace registryd::testing {
namespace {

ServerOptions ShortLeaseOptions() {
  ServerOptions options = TestServerOptions();
  options.registry.default_ttl = std::chrono::milliseconds(300);
  options.registry.min_ttl = std::chrono::milliseconds(100);
  options.registry.tick = std::chrono::milliseconds(20);
  return options;
}

class ExpiryTest : public ::testing::Test {
 protected:
  int LiveInstances(const std::string& service) {
    registry::v1::DiscoverRequest request;
    request.set_service(service);
    registry::v1::DiscoverResponse reply;
    EXPECT_TRUE(server_.native().Discover(Context().get(), request, &reply).ok());
    return reply.instances_size();
  }

  TestServer server_{ShortLeaseOptions()};
};

TEST_F(ExpiryTest, SilentNativeLeaseExpiresAndItsHeartbeatIsNotFound) {
  registry::v1::RegisterRequest request;
  request.set_service("fading");
  request.set_address("127.0.0.1:1");
  request.set_ttl_ms(200);
  registry::v1::RegisterResponse registered;
  ASSERT_TRUE(server_.native().Register(Context().get(), request, &registered).ok());
  ASSERT_EQ(LiveInstances("fading"), 1);

  ASSERT_TRUE(WaitFor([&] { return LiveInstances("fading") == 0; }));
  // Removed, not just hidden: the live count dropped too. The shard counts
  // the expiry and then removes the record, and the counters are read one by
  // one: wait for both.
  ASSERT_TRUE(WaitFor([&] {
    const RegistryTotals totals = server_.server().registry().Totals();
    return totals.expired == 1 && totals.live == 0;
  }));

  registry::v1::HeartbeatRequest heartbeat;
  heartbeat.set_lease_id(registered.lease_id());
  registry::v1::HeartbeatResponse reply;
  EXPECT_EQ(server_.native().Heartbeat(Context().get(), heartbeat, &reply).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ExpiryTest, SeedServerThatStopsHeartbeatingIsRemoved) {
  registry_service::RecordRequest record;
  record.set_serverid(9);
  record.set_serverip("127.0.0.1");
  record.set_serverport(8009);
  record.set_service("seeded");
  registry_service::QueryReply reply;
  ASSERT_TRUE(server_.seed_registry().discovery(Context().get(), record, &reply).ok());

  discovery_service::QueryRequest query;
  query.set_service("seeded");
  ASSERT_TRUE(WaitFor([&] {
    discovery_service::QueryReply found;
    EXPECT_TRUE(server_.seed_discovery().findServer(Context().get(), query, &found).ok());
    return !found.querysuccess();
  }));
  registry_service::RenewRequest renew;
  renew.set_serverid(9);
  registry_service::QueryReply renewed;
  const grpc::Status status = server_.seed_registry().heartBeat(Context().get(), renew, &renewed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("register again"), std::string::npos);
}

TEST_F(ExpiryTest, HeartbeatsKeepALeaseAliveWhileAnotherExpires) {
  registry::v1::RegisterRequest request;
  request.set_service("pair");
  request.set_address("127.0.0.1:1");
  request.set_ttl_ms(300);
  request.set_instance_id("kept");
  registry::v1::RegisterResponse kept;
  ASSERT_TRUE(server_.native().Register(Context().get(), request, &kept).ok());
  request.set_instance_id("dropped");
  registry::v1::RegisterResponse dropped;
  ASSERT_TRUE(server_.native().Register(Context().get(), request, &dropped).ok());

  registry::v1::HeartbeatRequest heartbeat;
  heartbeat.set_lease_id(kept.lease_id());
  ASSERT_TRUE(WaitFor([&] {
    registry::v1::HeartbeatResponse reply;
    EXPECT_TRUE(server_.native().Heartbeat(Context().get(), heartbeat, &reply).ok());
    return LiveInstances("pair") == 1;
  }));
  registry::v1::DiscoverRequest discover;
  discover.set_service("pair");
  registry::v1::DiscoverResponse found;
  ASSERT_TRUE(server_.native().Discover(Context().get(), discover, &found).ok());
  ASSERT_EQ(found.instances_size(), 1);
  EXPECT_EQ(found.instances(0).instance_id(), "kept");
}

// A data dir keeps the shard count it was made with, so a registryd started
// on it with more threads can have queues that own no shard. Their expiry
// alarms still report to the lease clock: a queue that stopped reporting
// would hold lease time back for good, and no lease would ever expire.
TEST(ExpiryWithFewShardsTest, AQueueThatOwnsNoShardStillLetsLeasesExpire) {
  ServerOptions options = ShortLeaseOptions();
  options.threads = 2;
  options.registry.shard_count = 1;  // the second queue owns none
  TestServer server(options);
  // One lease after another, so that the later ones are due well past the
  // --stall-threshold (500 ms) that lease time may run ahead of the slowest
  // queue's last report.
  for (uint64_t round = 1; round <= 6; ++round) {
    RegisterInstance(server.native(), "fading", "round " + std::to_string(round), 200);
    ASSERT_TRUE(WaitFor([&] { return server.server().registry().Totals().expired == round; }))
        << "lease time stood still at round " << round;
  }
}

}  // namespace
}  // namespace registryd::testing
