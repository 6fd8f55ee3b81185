// Many clients registering, heartbeating, deregistering and discovering at
// once through the real server; afterwards the registry holds exactly what
// the clients left in it. Runs under ASan+UBSan and TSan in tools/test.sh.
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "test_server.h"

namespace registryd::testing {
namespace {

constexpr int kClients = 8;
constexpr int kInstancesPerClient = 40;
constexpr int kRounds = 3;
constexpr int kSharedServices = 3;
// Odd rounds report overloaded; what the last one said is what stays.
constexpr bool kLastRoundOverloaded = (kRounds - 1) % 2 == 1;

std::string SharedService(int i) { return "shared-" + std::to_string(i % kSharedServices); }

// A call that waits for the connection instead of failing at once: on this
// loaded two-core VM, gRPC 1.51's client now and then fails a fresh
// connection attempt ("failed to connect to all addresses ... No such file or
// directory", about 1 run in 20 here), and every call of that client would
// then fail in the second before it reconnects. The server's behaviour under
// concurrency is what this test is about.
std::unique_ptr<grpc::ClientContext> Ready() {
  std::unique_ptr<grpc::ClientContext> context = Context();
  context->set_wait_for_ready(true);
  return context;
}

// Each client owns its instance ids, spread over shared services (so shards
// and services see concurrent writers) and registers through both APIs.
// It keeps the instances with an even index and deregisters the odd ones.
void RunClient(TestServer& server, int client, std::atomic<int>& failures) {
  auto channel = server.NewChannel();
  auto native = registry::v1::Registry::NewStub(channel);
  auto seed = registry_service::RegistryService::NewStub(channel);
  auto seed_discovery = discovery_service::DiscoveryService::NewStub(channel);
  const auto check = [&](const grpc::Status& status) {
    if (status.ok()) return;
    if (failures.fetch_add(1) == 0) {
      ADD_FAILURE() << "client " << client << ": first failed call: " << status.error_code() << " "
                    << status.error_message();
    }
  };

  std::vector<uint64_t> leases(kInstancesPerClient);
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kInstancesPerClient; ++i) {
      const std::string instance = "c" + std::to_string(client) + "-" + std::to_string(i);
      if (i % 4 == 0) {  // every fourth through the seed API
        registry_service::RecordRequest record;
        record.set_serverid(client * 1000 + i);
        record.set_serverip("127.0.0.1");
        record.set_serverport(10000 + i);
        record.set_service(SharedService(i));
        registry_service::QueryReply reply;
        check(seed->discovery(Ready().get(), record, &reply));
        registry_service::RenewRequest renew;
        renew.set_serverid(client * 1000 + i);
        renew.set_overloaded(round % 2 == 1);
        check(seed->heartBeat(Ready().get(), renew, &reply));
        continue;
      }
      registry::v1::RegisterRequest request;
      request.set_service(SharedService(i));
      request.set_address("127.0.0.1:" + std::to_string(10000 + i));
      request.set_instance_id(instance);
      (*request.mutable_metadata())["round"] = std::to_string(round);
      registry::v1::RegisterResponse registered;
      check(native->Register(Ready().get(), request, &registered));
      if (round > 0 && registered.lease_id() != leases[i] && i % 2 == 0) failures.fetch_add(1);
      leases[i] = registered.lease_id();

      registry::v1::HeartbeatRequest heartbeat;
      heartbeat.set_lease_id(registered.lease_id());
      heartbeat.set_overloaded(round % 2 == 1);
      registry::v1::HeartbeatResponse renewed;
      check(native->Heartbeat(Ready().get(), heartbeat, &renewed));

      registry::v1::DiscoverRequest discover;
      discover.set_service(SharedService(i));
      registry::v1::DiscoverResponse found;
      check(native->Discover(Ready().get(), discover, &found));

      discovery_service::QueryRequest query;
      query.set_service(SharedService(i));
      discovery_service::QueryReply picked;
      check(seed_discovery->findServer(Ready().get(), query, &picked));

      if (i % 2 == 1) {
        registry::v1::DeregisterRequest deregister;
        deregister.set_lease_id(registered.lease_id());
        registry::v1::DeregisterResponse gone;
        check(native->Deregister(Ready().get(), deregister, &gone));
      }
    }
  }
}

TEST(ConcurrencyTest, FinalStateIsExactlyWhatClientsLeft) {
  TestServer server;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int client = 0; client < kClients; ++client) {
    clients.emplace_back([&, client] { RunClient(server, client, failures); });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(failures.load(), 0);

  // Expected: native instances with an even index, and every seed one.
  std::map<std::string, std::set<std::string>> expected;
  for (int client = 0; client < kClients; ++client) {
    for (int i = 0; i < kInstancesPerClient; ++i) {
      if (i % 4 == 0) {
        expected[SharedService(i)].insert(std::to_string(client * 1000 + i));
      } else if (i % 2 == 0) {
        expected[SharedService(i)].insert("c" + std::to_string(client) + "-" + std::to_string(i));
      }
    }
  }
  size_t total = 0;
  for (const auto& [service, instances] : expected) {
    registry::v1::DiscoverRequest request;
    request.set_service(service);
    registry::v1::DiscoverResponse found;
    ASSERT_TRUE(server.native().Discover(Context().get(), request, &found).ok());
    std::multiset<std::string> seen;
    for (const auto& instance : found.instances()) {
      seen.insert(instance.instance_id());
      EXPECT_EQ(instance.overloaded(), kLastRoundOverloaded) << instance.instance_id();
    }
    EXPECT_EQ(seen, std::multiset<std::string>(instances.begin(), instances.end())) << service;
    total += instances.size();
  }
  EXPECT_EQ(server.server().registry().Totals().live, total);

  registry::v1::ListServicesResponse listed;
  ASSERT_TRUE(server.native().ListServices(Context().get(), registry::v1::ListServicesRequest(), &listed).ok());
  ASSERT_EQ(listed.services_size(), kSharedServices);
  for (const auto& service : listed.services()) {
    EXPECT_EQ(service.instances(), expected[service.name()].size()) << service.name();
  }
}

}  // namespace
}  // namespace registryd::testing
