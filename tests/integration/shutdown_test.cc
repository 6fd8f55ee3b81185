// Graceful shutdown with calls in flight: every call ends with a status, the
// server stops, nothing hangs.
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "test_server.h"

namespace registryd::testing {
namespace {

TEST(ShutdownTest, CallsInFlightEndWithAStatusAndTheServerStops) {
  TestServer server;
  std::atomic<int> completed{0};
  std::atomic<bool> stop{false};
  std::mutex codes_mutex;
  std::map<grpc::StatusCode, int> codes;

  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      auto stub = registry::v1::Registry::NewStub(server.NewChannel());
      for (int i = 0; !stop.load() && i < 100'000; ++i) {
        registry::v1::RegisterRequest request;
        request.set_service("busy-" + std::to_string(t));
        request.set_address("127.0.0.1:1");
        request.set_instance_id("instance-" + std::to_string(i % 50));
        registry::v1::RegisterResponse reply;
        auto context = Context();
        const grpc::Status status = stub->Register(context.get(), request, &reply);
        {
          std::lock_guard lock(codes_mutex);
          ++codes[status.error_code()];
        }
        completed.fetch_add(1);
        if (status.error_code() == grpc::StatusCode::UNAVAILABLE) return;
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return completed.load() >= 200; }));
  server.server().Shutdown();  // returns: queues drained, alarms cancelled
  stop.store(true);
  for (std::thread& client : clients) client.join();

  EXPECT_GT(codes[grpc::StatusCode::OK], 0);
  for (const auto& [code, count] : codes) {
    EXPECT_TRUE(code == grpc::StatusCode::OK || code == grpc::StatusCode::UNAVAILABLE ||
                code == grpc::StatusCode::CANCELLED)
        << "status " << code << " seen " << count << " times";
  }
}

TEST(ShutdownTest, NewCallsAreRefusedAfterShutdownAndShutdownIsIdempotent) {
  TestServer server;
  auto stub = registry::v1::Registry::NewStub(server.NewChannel());
  server.server().Shutdown();
  server.server().Shutdown();
  registry::v1::ListServicesResponse reply;
  const grpc::Status status = stub->ListServices(Context().get(), registry::v1::ListServicesRequest(), &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace registryd::testing
