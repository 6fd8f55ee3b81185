// Session streams from many clients at once, with the journal under
// --fsync always, so registrations are answered on the journal's thread
// while streams break, resume and close; and a shutdown in the middle of it.
// Run under ASan + UBSan and TSan by tools/test.sh (suite concurrency).
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "test_server.h"

namespace registryd::testing {
namespace {

using registry::v1::SessionRequest;
using registry::v1::SessionResponse;

// A fresh data dir, removed at the end.
class DataDir {
 public:
  DataDir() {
    char pattern[] = "/tmp/registryd_session_test_XXXXXX";
    EXPECT_NE(mkdtemp(pattern), nullptr);
    path_ = pattern;
  }
  ~DataDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

ServerOptions DurableOptions(const DataDir& dir) {
  ServerOptions options = TestServerOptions();
  options.persistence.data_dir = dir.path();
  options.persistence.journal.fsync = FsyncPolicy::kAlways;
  return options;
}

// One client's session stream.
class Session {
 public:
  explicit Session(registry::v1::Registry::Stub& stub) : context_(Context()), stream_(stub.Session(context_.get())) {}

  // The response, or nothing when the stream ended.
  std::optional<SessionResponse> Send(const SessionRequest& request) {
    if (!stream_->Write(request)) return std::nullopt;
    SessionResponse response;
    if (!stream_->Read(&response)) return std::nullopt;
    return response;
  }
  std::optional<registry::v1::SessionOpened> Open() {
    SessionRequest request;
    request.mutable_open()->set_ttl_ms(30'000);
    std::optional<SessionResponse> response = Send(request);
    if (!response) return std::nullopt;
    return response->opened();
  }
  bool Resume(const registry::v1::SessionOpened& opened) {
    SessionRequest request;
    request.mutable_resume()->set_session_id(opened.session_id());
    request.mutable_resume()->set_token(opened.token());
    std::optional<SessionResponse> response = Send(request);
    return response && response->opened().resumed();
  }
  // Registers `count` instances of `service`; how many were registered.
  int Register(const std::string& service, const std::string& prefix, int count) {
    SessionRequest request;
    for (int i = 0; i < count; ++i) {
      registry::v1::RegisterRequest& instance = *request.mutable_register_()->add_instances();
      instance.set_service(service);
      instance.set_instance_id(prefix + std::to_string(i));
      instance.set_address("127.0.0.1:9000");
    }
    std::optional<SessionResponse> response = Send(request);
    if (!response) return 0;
    int ok = 0;
    for (const auto& result : response->registered().results()) ok += result.code() == 0;
    return ok;
  }
  bool Close() {
    SessionRequest request;
    request.mutable_close();
    std::optional<SessionResponse> response = Send(request);
    stream_->WritesDone();
    SessionResponse ignored;
    while (stream_->Read(&ignored)) {
    }
    return response && response->has_closed() && stream_->Finish().ok();
  }
  void Break() {
    context_->TryCancel();
    SessionResponse ignored;
    while (stream_->Read(&ignored)) {
    }
    (void)stream_->Finish();
  }
  grpc::ClientReaderWriter<SessionRequest, SessionResponse>& stream() { return *stream_; }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<SessionRequest, SessionResponse>> stream_;
};

size_t Discovered(registry::v1::Registry::Stub& stub, const std::string& service) {
  registry::v1::DiscoverRequest request;
  request.set_service(service);
  registry::v1::DiscoverResponse reply;
  EXPECT_TRUE(stub.Discover(Context().get(), request, &reply).ok());
  return static_cast<size_t>(reply.instances_size());
}

TEST(SessionConcurrencyTest, ClientsOpenRegisterBreakResumeAndCloseAtOnce) {
  DataDir dir;
  TestServer server(DurableOptions(dir));
  constexpr int kClients = 6;
  constexpr int kRounds = 12;
  constexpr int kInstances = 5;
  std::atomic<bool> reading{true};
  std::thread reader([&] {
    auto stub = registry::v1::Registry::NewStub(server.NewChannel());
    while (reading) Discovered(*stub, "kept");
  });
  std::vector<std::thread> clients;
  std::atomic<int> kept{0};
  for (int client = 0; client < kClients; ++client) {
    clients.emplace_back([&, client] {
      auto stub = registry::v1::Registry::NewStub(server.NewChannel());
      for (int round = 0; round < kRounds; ++round) {
        const std::string prefix = fmt::format("c{}-r{}-", client, round);
        auto session = std::make_unique<Session>(*stub);
        const std::optional<registry::v1::SessionOpened> opened = session->Open();
        ASSERT_TRUE(opened);
        switch (round % 3) {
          case 0:  // closed: its instances go
            EXPECT_EQ(session->Register("closed", prefix, kInstances), kInstances);
            EXPECT_TRUE(session->Close());
            break;
          case 1: {  // broken, resumed on a new stream, closed there
            EXPECT_EQ(session->Register("closed", prefix, kInstances), kInstances);
            session->Break();
            session = std::make_unique<Session>(*stub);
            EXPECT_TRUE(session->Resume(*opened));
            EXPECT_TRUE(session->Close());
            break;
          }
          case 2:  // broken and left in grace: its instances stay for now
            EXPECT_EQ(session->Register("kept", prefix, kInstances), kInstances);
            kept += kInstances;
            session->Break();
            break;
        }
      }
    });
  }
  for (std::thread& client : clients) client.join();
  reading = false;
  reader.join();
  EXPECT_TRUE(WaitFor([&] { return Discovered(server.native(), "closed") == 0; }))
      << Discovered(server.native(), "closed") << " closed instances left, "
      << server.server().registry().sessions().live_sessions() << " sessions live";
  EXPECT_EQ(Discovered(server.native(), "kept"), static_cast<size_t>(kept.load()));
  EXPECT_EQ(server.server().registry().sessions().live_sessions(), static_cast<size_t>(kClients * kRounds / 3));
}

// Shutdown ends every session stream with a status, whether it waits for a
// read, a write or the journal's answer.
TEST(SessionConcurrencyTest, ShutdownEndsSessionStreamsUnderWay) {
  DataDir dir;
  ServerOptions options = DurableOptions(dir);
  options.shutdown_timeout = std::chrono::seconds(60);
  TestServer server(options);
  constexpr int kClients = 6;
  std::vector<std::thread> clients;
  std::atomic<int> opened{0};
  for (int client = 0; client < kClients; ++client) {
    clients.emplace_back([&, client] {
      auto stub = registry::v1::Registry::NewStub(server.NewChannel());
      Session session(*stub);
      if (!session.Open()) return;
      ++opened;
      // Registers until the stream ends.
      for (int round = 0; session.Register("busy", fmt::format("c{}-r{}-", client, round), 20) > 0; ++round) {
      }
      const grpc::Status status = session.stream().Finish();
      EXPECT_FALSE(status.ok());
    });
  }
  EXPECT_TRUE(WaitFor([&] { return opened == kClients; }));
  EXPECT_TRUE(WaitFor([&] { return Discovered(server.native(), "busy") > 100; }));
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server.server().Shutdown();
    stopped = true;
  });
  EXPECT_TRUE(WaitFor([&] { return stopped.load(); }, std::chrono::seconds(30)));  // well before 60 s
  stopper.join();
  for (std::thread& client : clients) client.join();
}

}  // namespace
}  // namespace registryd::testing
