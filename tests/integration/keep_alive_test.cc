// registry.v1.Registry/KeepAlive over the wire: renewals, per-lease errors on
// a stream that stays open, stream-bound leases, shutdown with streams open.
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "test_server.h"

namespace registryd::testing {
namespace {

using registry::v1::KeepAliveRequest;
using registry::v1::KeepAliveResponse;

ServerOptions ShortTtlOptions() {
  ServerOptions options = TestServerOptions();
  options.registry.min_ttl = std::chrono::seconds(1);
  options.registry.tick = std::chrono::milliseconds(20);
  return options;
}

// One client stream, used synchronously.
class KeepAliveStream {
 public:
  explicit KeepAliveStream(registry::v1::Registry::Stub& stub)
      : context_(Context()), stream_(stub.KeepAlive(context_.get())) {}

  KeepAliveResponse Renew(uint64_t lease, bool bind = false, bool overloaded = false) {
    KeepAliveRequest request;
    request.set_lease_id(lease);
    request.set_bind_to_stream(bind);
    request.set_overloaded(overloaded);
    KeepAliveResponse response;
    EXPECT_TRUE(stream_->Write(request));
    EXPECT_TRUE(stream_->Read(&response));
    return response;
  }
  grpc::Status Close() {
    stream_->WritesDone();
    KeepAliveResponse unexpected;
    EXPECT_FALSE(stream_->Read(&unexpected));
    return stream_->Finish();
  }
  // What a killed client looks like to the server: the stream is reset.
  void Break() {
    context_->TryCancel();
    (void)stream_->Finish();
  }
  grpc::ClientReaderWriter<KeepAliveRequest, KeepAliveResponse>& stream() { return *stream_; }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<KeepAliveRequest, KeepAliveResponse>> stream_;
};

class KeepAliveTest : public ::testing::Test {
 protected:
  uint64_t Register(const std::string& service, const std::string& instance_id, uint32_t ttl_ms = 60'000) {
    return RegisterInstance(server_.native(), service, instance_id, ttl_ms);
  }
  std::vector<std::string> Instances(const std::string& service) {
    registry::v1::DiscoverRequest request;
    request.set_service(service);
    registry::v1::DiscoverResponse reply;
    EXPECT_TRUE(server_.native().Discover(Context().get(), request, &reply).ok());
    std::vector<std::string> ids;
    for (const auto& instance : reply.instances()) ids.push_back(instance.instance_id());
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  TestServer server_{ShortTtlOptions()};
};

TEST_F(KeepAliveTest, EachRequestGetsItsResponseAndErrorsAreScopedToTheirLease) {
  const uint64_t a = Register("kv", "a", 30'000);
  const uint64_t b = Register("kv", "b", 45'000);
  KeepAliveStream stream(server_.native());

  KeepAliveResponse renewed = stream.Renew(a);
  EXPECT_EQ(renewed.lease_id(), a);
  EXPECT_EQ(renewed.code(), 0);
  EXPECT_EQ(renewed.ttl_ms(), 30'000u);

  const KeepAliveResponse unknown = stream.Renew(a ^ 0xffff'0000'0000ULL);
  EXPECT_EQ(unknown.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(unknown.ttl_ms(), 0u);
  EXPECT_NE(unknown.message().find("lease not found"), std::string::npos);

  const KeepAliveResponse zero = stream.Renew(0);
  EXPECT_EQ(zero.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(zero.message(), "lease_id: must be set");

  renewed = stream.Renew(b, false, true);  // the stream still works after errors
  EXPECT_EQ(renewed.code(), 0);
  EXPECT_EQ(renewed.ttl_ms(), 45'000u);
  EXPECT_TRUE(stream.Close().ok());
  EXPECT_EQ(Instances("kv"), (std::vector<std::string>{"a", "b"}));  // not bound: they stay
}

// A sidecar renews many leases in one request, each with its own result.
TEST_F(KeepAliveTest, OneRequestRenewsManyLeasesEachWithItsResult) {
  const uint64_t a = Register("batch", "a", 30'000);
  const uint64_t b = Register("batch", "b", 45'000);
  const uint64_t gone = Register("batch", "gone", 30'000);
  registry::v1::DeregisterRequest deregister;
  deregister.set_lease_id(gone);
  registry::v1::DeregisterResponse deregistered;
  ASSERT_TRUE(server_.native().Deregister(Context().get(), deregister, &deregistered).ok());
  KeepAliveStream stream(server_.native());

  KeepAliveRequest request;
  for (const uint64_t lease : {a, gone, b}) request.add_lease_ids(lease);
  request.set_overloaded(true);
  KeepAliveResponse response;
  ASSERT_TRUE(stream.stream().Write(request));
  ASSERT_TRUE(stream.stream().Read(&response));
  EXPECT_EQ(response.code(), 0) << "no lease_id of its own: nothing to answer for it";
  ASSERT_EQ(response.results_size(), 3);
  EXPECT_EQ(response.results(0).lease_id(), a);
  EXPECT_EQ(response.results(0).ttl_ms(), 30'000u);
  EXPECT_EQ(response.results(1).code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(response.results(2).ttl_ms(), 45'000u);

  KeepAliveRequest too_many;
  for (int i = 0; i < 1001; ++i) too_many.add_lease_ids(a);
  ASSERT_TRUE(stream.stream().Write(too_many));
  ASSERT_TRUE(stream.stream().Read(&response));
  EXPECT_EQ(response.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(response.message().find("1000"), std::string::npos) << response.message();
  EXPECT_EQ(response.results_size(), 0);
  EXPECT_EQ(stream.Renew(a).code(), 0) << "the stream goes on";
  EXPECT_TRUE(stream.Close().ok());
}

TEST_F(KeepAliveTest, PipelinedRequestsAreAnsweredInOrder) {
  std::vector<uint64_t> leases;
  for (int i = 0; i < 50; ++i) leases.push_back(Register("pipe", "i" + std::to_string(i)));
  KeepAliveStream stream(server_.native());
  for (const uint64_t lease : leases) {
    KeepAliveRequest request;
    request.set_lease_id(lease);
    ASSERT_TRUE(stream.stream().Write(request));
  }
  for (const uint64_t lease : leases) {
    KeepAliveResponse response;
    ASSERT_TRUE(stream.stream().Read(&response));
    EXPECT_EQ(response.lease_id(), lease);
    EXPECT_EQ(response.code(), 0);
  }
  EXPECT_TRUE(stream.Close().ok());
}

TEST_F(KeepAliveTest, RenewalsOnTheStreamKeepALeaseAliveBeyondItsTtl) {
  const uint64_t kept = Register("ttl", "kept", 1'000);
  Register("ttl", "left", 1'000);
  KeepAliveStream stream(server_.native());
  // Renew one until the other, renewed by nobody, has expired.
  ASSERT_TRUE(WaitFor([&] {
    EXPECT_EQ(stream.Renew(kept).code(), 0);
    return Instances("ttl") == std::vector<std::string>{"kept"};
  }));
  EXPECT_EQ(stream.Renew(kept).code(), 0);
  EXPECT_TRUE(stream.Close().ok());
}

TEST_F(KeepAliveTest, ABoundStreamRemovesItsLeasesWhenItBreaksOrCloses) {
  const uint64_t broken = Register("bound", "broken");
  const uint64_t closed = Register("bound", "closed");
  const uint64_t free = Register("bound", "free");
  KeepAliveStream unbound(server_.native());
  EXPECT_EQ(unbound.Renew(free).code(), 0);
  unbound.Break();

  KeepAliveStream breaking(server_.native());
  EXPECT_EQ(breaking.Renew(broken, /*bind=*/true).code(), 0);
  KeepAliveStream closing(server_.native());
  EXPECT_EQ(closing.Renew(closed, /*bind=*/true).code(), 0);
  EXPECT_EQ(Instances("bound"), (std::vector<std::string>{"broken", "closed", "free"}));

  breaking.Break();
  // Long before their 60 s TTL.
  ASSERT_TRUE(WaitFor([&] { return Instances("bound") == std::vector<std::string>{"closed", "free"}; }));
  EXPECT_TRUE(closing.Close().ok());
  ASSERT_TRUE(WaitFor([&] { return Instances("bound") == std::vector<std::string>{"free"}; }));
}

TEST_F(KeepAliveTest, OnlyTheFirstRequestSetsBinding) {
  const uint64_t lease = Register("late", "x");
  KeepAliveStream stream(server_.native());
  EXPECT_EQ(stream.Renew(lease, /*bind=*/false).code(), 0);
  EXPECT_EQ(stream.Renew(lease, /*bind=*/true).code(), 0);  // too late: ignored
  EXPECT_TRUE(stream.Close().ok());
  EXPECT_EQ(Instances("late"), std::vector<std::string>{"x"});
}

// Shutdown cancels open streams instead of waiting --shutdown-timeout for
// clients that never close them.
TEST(KeepAliveShutdownTest, ShutdownEndsOpenStreamsWithAStatusWithoutWaitingForTheDeadline) {
  ServerOptions options = TestServerOptions();
  options.shutdown_timeout = std::chrono::seconds(60);
  TestServer server(options);
  registry::v1::RegisterRequest request;
  request.set_service("stop");
  request.set_address("127.0.0.1:1");
  registry::v1::RegisterResponse registered;
  ASSERT_TRUE(server.native().Register(Context().get(), request, &registered).ok());
  std::vector<std::unique_ptr<KeepAliveStream>> streams;
  for (int i = 0; i < 8; ++i) {
    streams.push_back(std::make_unique<KeepAliveStream>(server.native()));
    EXPECT_EQ(streams.back()->Renew(registered.lease_id()).code(), 0);
  }

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server.server().Shutdown();
    stopped = true;
  });
  for (auto& stream : streams) {
    KeepAliveResponse none;
    EXPECT_FALSE(stream->stream().Read(&none));  // ends instead of hanging
    const grpc::Status status = stream->stream().Finish();
    EXPECT_TRUE(status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                status.error_code() == grpc::StatusCode::CANCELLED)
        << status.error_code();
  }
  EXPECT_TRUE(WaitFor([&] { return stopped.load(); }, std::chrono::seconds(20)));  // well before 60 s
  stopper.join();
}

}  // namespace
}  // namespace registryd::testing
