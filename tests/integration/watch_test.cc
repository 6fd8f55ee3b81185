// registry.v1.Registry/Watch over the wire: snapshot then ordered changes,
// removal reasons, resume, the snapshot fallback, coalescing for a client
// that does not read, bad requests, and shutdown with streams open.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include "test_server.h"

namespace registryd::testing {
namespace {

using registry::v1::WatchEvent;
using registry::v1::WatchRequest;
using registry::v1::WatchResponse;

// (kind, service, instance id, reason) of an event, comparable in tests.
using Seen = std::tuple<WatchEvent::Kind, std::string, std::string, WatchEvent::Reason>;
constexpr WatchEvent::Reason kNoReason = WatchEvent::REASON_UNSPECIFIED;

class WatchStream {
 public:
  WatchStream(registry::v1::Registry::Stub& stub, const std::string& service, uint64_t since_revision = 0)
      : context_(Context()) {
    WatchRequest request;
    request.set_service(service);
    request.set_since_revision(since_revision);
    reader_ = stub.Watch(context_.get(), request);
  }

  // The next response; fails the test if the stream ends instead.
  WatchResponse Next() {
    WatchResponse response;
    EXPECT_TRUE(reader_->Read(&response)) << "the stream ended: " << reader_->Finish().error_message();
    return response;
  }
  // Events until `count` are seen (the stream's responses may group them).
  std::vector<Seen> NextEvents(size_t count) {
    std::vector<Seen> seen;
    while (seen.size() < count) {
      const WatchResponse response = Next();
      if (response.events_size() == 0 && response.revision() == 0) break;  // the stream ended
      for (const WatchEvent& event : response.events()) {
        seen.emplace_back(event.kind(), event.instance().service(), event.instance().instance_id(), event.reason());
      }
      last_revision_ = response.revision();
    }
    return seen;
  }
  grpc::Status End() {
    WatchResponse unexpected;
    while (reader_->Read(&unexpected)) {
    }
    return reader_->Finish();
  }
  void Cancel() {
    context_->TryCancel();
    (void)End();
  }
  uint64_t last_revision() const { return last_revision_; }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<WatchResponse>> reader_;
  uint64_t last_revision_ = 0;
};

class WatchTest : public ::testing::Test {
 protected:
  explicit WatchTest(ServerOptions options = TestServerOptions()) : server_(options) {}

  uint64_t Register(const std::string& service, const std::string& instance_id, uint32_t ttl_ms = 60'000,
                    const std::string& zone = "") {
    if (zone.empty()) return RegisterInstance(server_.native(), service, instance_id, ttl_ms);
    return RegisterInstance(server_.native(), service, instance_id, ttl_ms, {{"zone", zone}});
  }
  void Deregister(uint64_t lease) {
    registry::v1::DeregisterRequest request;
    request.set_lease_id(lease);
    registry::v1::DeregisterResponse reply;
    EXPECT_TRUE(server_.native().Deregister(Context().get(), request, &reply).ok());
  }
  void Heartbeat(uint64_t lease, bool overloaded) {
    registry::v1::HeartbeatRequest request;
    request.set_lease_id(lease);
    request.set_overloaded(overloaded);
    registry::v1::HeartbeatResponse reply;
    EXPECT_TRUE(server_.native().Heartbeat(Context().get(), request, &reply).ok());
  }
  uint64_t Revision(const std::string& service) {
    registry::v1::DiscoverRequest request;
    request.set_service(service);
    registry::v1::DiscoverResponse reply;
    EXPECT_TRUE(server_.native().Discover(Context().get(), request, &reply).ok());
    return reply.revision();
  }

  TestServer server_;
};

TEST_F(WatchTest, StartsWithASnapshotThenSendsEveryChangeInOrder) {
  const uint64_t a = Register("books", "a");
  const uint64_t b = Register("books", "b", 60'000, "eu-1");
  Register("films", "f");
  WatchStream watch(server_.native(), "books");

  const WatchResponse snapshot = watch.Next();
  EXPECT_TRUE(snapshot.snapshot());
  EXPECT_FALSE(snapshot.history_lost());
  EXPECT_FALSE(snapshot.more());
  ASSERT_EQ(snapshot.events_size(), 2);
  for (const WatchEvent& event : snapshot.events()) {
    EXPECT_EQ(event.kind(), WatchEvent::ADDED);
    EXPECT_EQ(event.instance().address(), "127.0.0.1:9000");
    if (event.instance().instance_id() == "b") {
      EXPECT_EQ(event.instance().metadata().at("zone"), "eu-1");
    }
  }
  EXPECT_GT(snapshot.revision(), 0u);

  Register("books", "c");
  Register("films", "g");  // another service: not sent
  Heartbeat(b, true);
  Deregister(a);
  EXPECT_EQ(watch.NextEvents(3),
            (std::vector<Seen>{{WatchEvent::ADDED, "books", "c", kNoReason},
                               {WatchEvent::UPDATED, "books", "b", kNoReason},
                               {WatchEvent::REMOVED, "books", "a", WatchEvent::DEREGISTERED}}));
  EXPECT_EQ(watch.last_revision(), Revision("books"));
  watch.Cancel();
}

TEST_F(WatchTest, RemovalsSayWhetherTheInstanceWasDeregisteredExpiredOrEjected) {
  WatchStream watch(server_.native(), "");
  EXPECT_TRUE(watch.Next().snapshot());

  registry_service::RecordRequest seed;
  seed.set_serverid(7);
  seed.set_serverip("127.0.0.1");
  seed.set_serverport(7000);
  seed.set_service("seed-books");
  registry_service::QueryReply recorded;
  ASSERT_TRUE(server_.seed_registry().discovery(Context().get(), seed, &recorded).ok());
  discovery_service::ServerError warn;
  warn.set_serverid(7);
  discovery_service::QueryReply replacement;
  ASSERT_TRUE(server_.seed_discovery().warnServerError(Context().get(), warn, &replacement).ok());
  Register("short", "s", 1'000);  // expires within about a second

  EXPECT_EQ(watch.NextEvents(4),
            (std::vector<Seen>{{WatchEvent::ADDED, "seed-books", "7", kNoReason},
                               {WatchEvent::REMOVED, "seed-books", "7", WatchEvent::EJECTED},
                               {WatchEvent::ADDED, "short", "s", kNoReason},
                               {WatchEvent::REMOVED, "short", "s", WatchEvent::EXPIRED}}));
  watch.Cancel();
}

TEST_F(WatchTest, AResumingClientGetsExactlyTheChangesItMissed) {
  const uint64_t a = Register("books", "a");
  uint64_t left_at = 0;
  {
    WatchStream first(server_.native(), "books");
    left_at = first.Next().revision();
    first.Cancel();
  }
  Register("books", "b");
  Deregister(a);

  WatchStream resumed(server_.native(), "books", left_at);
  const WatchResponse missed = resumed.Next();
  EXPECT_FALSE(missed.snapshot());
  ASSERT_EQ(missed.events_size(), 2);
  EXPECT_EQ(missed.events(0).kind(), WatchEvent::ADDED);
  EXPECT_EQ(missed.events(0).instance().instance_id(), "b");
  EXPECT_EQ(missed.events(1).kind(), WatchEvent::REMOVED);
  EXPECT_EQ(missed.events(1).instance().instance_id(), "a");
  EXPECT_LT(missed.events(0).revision(), missed.events(1).revision());
  resumed.Cancel();

  WatchStream current(server_.native(), "books", missed.revision());
  const WatchResponse nothing_missed = current.Next();
  EXPECT_FALSE(nothing_missed.snapshot());
  EXPECT_EQ(nothing_missed.events_size(), 0);
  EXPECT_EQ(nothing_missed.revision(), missed.revision());
  // Then it waits for the next change: that empty answer is said once (it
  // was sent again and again, as fast as the stream took it, found by
  // tests/robustness).
  Register("books", "c");
  const WatchResponse next = current.Next();
  ASSERT_EQ(next.events_size(), 1);
  EXPECT_EQ(next.events(0).instance().instance_id(), "c");
  EXPECT_GT(next.revision(), missed.revision());
  current.Cancel();
}

TEST_F(WatchTest, AMalformedServiceIsInvalidArgumentNamingTheField) {
  WatchStream too_long(server_.native(), std::string(300, 's'));
  grpc::Status status = too_long.End();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("service:", 0), 0u) << status.error_message();

  WatchStream not_utf8(server_.native(), "svc\xff\xfe");
  status = not_utf8.End();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "service: must be valid UTF-8");
}

ServerOptions ShortHistoryOptions() {
  ServerOptions options = TestServerOptions();
  options.registry.change_log_capacity = 4;
  return options;
}

class ShortHistoryWatchTest : public WatchTest {
 protected:
  ShortHistoryWatchTest() : WatchTest(ShortHistoryOptions()) {}
};

TEST_F(ShortHistoryWatchTest, ResumingPastTheKeptHistoryGetsASnapshotMarkedAsSuch) {
  Register("books", "a");
  uint64_t left_at = 0;
  {
    WatchStream first(server_.native(), "books");
    left_at = first.Next().revision();
    first.Cancel();
  }
  for (int i = 0; i < 6; ++i) Register("books", "n" + std::to_string(i));

  WatchStream resumed(server_.native(), "books", left_at);
  const WatchResponse snapshot = resumed.Next();
  EXPECT_TRUE(snapshot.snapshot());
  EXPECT_TRUE(snapshot.history_lost());
  EXPECT_EQ(snapshot.events_size(), 7);
  resumed.Cancel();
}

// A client that stops reading: its stream's flow-control window is tiny, so
// the server's writes stall almost at once. The changes made meanwhile reach
// it coalesced (or as a fresh snapshot), ending at the latest state.
TEST_F(WatchTest, AClientThatDoesNotReadGetsTheLatestStateNotEveryChange) {
  grpc::ChannelArguments arguments;
  arguments.SetInt("grpc.http2.lookahead_bytes", 1024);
  arguments.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  const auto channel = grpc::CreateCustomChannel(server_.server().address(), grpc::InsecureChannelCredentials(),
                                                 arguments);
  auto stub = registry::v1::Registry::NewStub(channel);
  const uint64_t hot = Register("books", "hot", 60'000, "v0");
  WatchStream watch(*stub, "books");
  ASSERT_TRUE(watch.Next().snapshot());

  constexpr int kUpdates = 600;
  const std::string padding(2000, 'p');
  for (int i = 1; i <= kUpdates; ++i) Register("books", "hot", 60'000, padding + std::to_string(i));
  Heartbeat(hot, true);
  const uint64_t final_revision = Revision("books");

  int hot_events = 0;
  bool caught_up_in_bulk = false;
  WatchResponse response;
  do {
    response = watch.Next();
    caught_up_in_bulk = caught_up_in_bulk || response.coalesced() || response.history_lost();
    for (const WatchEvent& event : response.events()) {
      if (event.instance().instance_id() != "hot") continue;
      ++hot_events;
      if (response.revision() == final_revision && !response.more()) {
        EXPECT_EQ(event.instance().metadata().at("zone"), padding + std::to_string(kUpdates));
        EXPECT_TRUE(event.instance().overloaded());
      }
    }
  } while (response.revision() < final_revision || response.more());
  EXPECT_TRUE(caught_up_in_bulk);
  EXPECT_LT(hot_events, kUpdates / 2) << "far fewer events than changes";
  watch.Cancel();
}

TEST(WatchShutdownTest, ShutdownEndsOpenWatchStreamsWithAStatusWithoutWaitingForTheDeadline) {
  ServerOptions options = TestServerOptions();
  options.shutdown_timeout = std::chrono::seconds(60);
  TestServer server(options);
  std::vector<std::unique_ptr<WatchStream>> streams;
  for (int i = 0; i < 8; ++i) {
    streams.push_back(std::make_unique<WatchStream>(server.native(), i % 2 == 0 ? "" : "books"));
    EXPECT_TRUE(streams.back()->Next().snapshot());
  }
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server.server().Shutdown();
    stopped = true;
  });
  for (auto& stream : streams) {
    const grpc::Status status = stream->End();  // ends instead of hanging
    EXPECT_TRUE(status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                status.error_code() == grpc::StatusCode::CANCELLED || status.ok())
        << status.error_code();
  }
  EXPECT_TRUE(WaitFor([&] { return stopped.load(); }, std::chrono::seconds(20)));  // well before 60 s
  stopper.join();
}

}  // namespace
}  // namespace registryd::testing
