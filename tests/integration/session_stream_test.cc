// registry.v1.Registry/Session against the real server: per-instance
// results, the stream's own errors, a break with and without grace, resume,
// and a silent client. Expiry runs on the real alarms: the tests wait for a
// condition, never for a time.
#include <optional>
#include <set>
#include <thread>
#include <string>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include "test_server.h"

namespace registryd::testing {
namespace {

using registry::v1::SessionRequest;
using registry::v1::SessionResponse;
using Stream = grpc::ClientReaderWriter<SessionRequest, SessionResponse>;

class SessionStreamTest : public ::testing::Test {
 protected:
  // A stream of its own context; the context outlives it.
  struct Opened {
    std::unique_ptr<grpc::ClientContext> context = Context();
    std::unique_ptr<Stream> stream;
  };

  Opened NewStream() {
    Opened opened;
    opened.stream = server_.native().Session(opened.context.get());
    return opened;
  }
  static SessionResponse Exchange(Stream& stream, const SessionRequest& request) {
    EXPECT_TRUE(stream.Write(request));
    SessionResponse response;
    EXPECT_TRUE(stream.Read(&response)) << "the stream ended: " << stream.Finish().error_message();
    EXPECT_EQ(response.request_id(), request.request_id());
    return response;
  }
  static SessionRequest Open(uint32_t ttl_ms, std::optional<uint32_t> grace_ms = std::nullopt) {
    SessionRequest request;
    request.set_request_id(1);
    request.mutable_open()->set_ttl_ms(ttl_ms);
    if (grace_ms) request.mutable_open()->set_grace_ms(*grace_ms);
    return request;
  }
  static SessionRequest Register(std::initializer_list<std::pair<std::string, std::string>> instances) {
    SessionRequest request;
    request.set_request_id(2);
    for (const auto& [service, id] : instances) {
      registry::v1::RegisterRequest& instance = *request.mutable_register_()->add_instances();
      instance.set_service(service);
      instance.set_instance_id(id);
      instance.set_address("127.0.0.1:9000");
    }
    return request;
  }
  static SessionRequest KeepAlive() {
    SessionRequest request;
    request.set_request_id(3);
    request.mutable_keep_alive();
    return request;
  }
  // The stream's end after the server ended it (the client half-closes).
  static grpc::Status EndOf(Stream& stream) {
    SessionResponse ignored;
    while (stream.Read(&ignored)) {
    }
    return stream.Finish();
  }
  std::set<std::string> Instances(const std::string& service) {
    registry::v1::DiscoverRequest request;
    request.set_service(service);
    registry::v1::DiscoverResponse reply;
    EXPECT_TRUE(server_.native().Discover(Context().get(), request, &reply).ok());
    std::set<std::string> ids;
    for (const auto& instance : reply.instances()) ids.insert(instance.instance_id());
    return ids;
  }

  TestServer server_;
};

TEST_F(SessionStreamTest, OneStreamRegistersKeepsAndClosesInstancesEachWithItsOwnResult) {
  Opened session = NewStream();
  const SessionResponse opened = Exchange(*session.stream, Open(30'000));
  ASSERT_TRUE(opened.has_opened());
  EXPECT_NE(opened.opened().session_id(), 0u);
  EXPECT_EQ(opened.opened().token().size(), 16u);
  EXPECT_EQ(opened.opened().ttl_ms(), 30'000u);
  EXPECT_EQ(opened.opened().grace_ms(), 30'000u) << "the grace is one TTL unless asked";

  SessionRequest registration = Register({{"books", "b1"}, {"books", "b2"}, {"films", "f1"}});
  registration.mutable_register_()->mutable_instances(1)->set_address("no port");
  const SessionResponse registered = Exchange(*session.stream, registration);
  ASSERT_EQ(registered.registered().results_size(), 3);
  EXPECT_EQ(registered.registered().results(0).code(), 0);
  EXPECT_NE(registered.registered().results(0).lease_id(), 0u);
  EXPECT_EQ(registered.registered().results(1).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(registered.registered().results(1).message().find("address"), std::string::npos);
  EXPECT_EQ(registered.registered().results(2).code(), 0);
  EXPECT_EQ(Instances("books"), std::set<std::string>{"b1"});
  EXPECT_EQ(Instances("films"), std::set<std::string>{"f1"});

  EXPECT_EQ(Exchange(*session.stream, KeepAlive()).kept_alive().ttl_ms(), 30'000u);

  SessionRequest deregistration;
  deregistration.set_request_id(4);
  deregistration.mutable_deregister()->add_lease_ids(registered.registered().results(2).lease_id());
  deregistration.mutable_deregister()->add_lease_ids(12345);
  const SessionResponse deregistered = Exchange(*session.stream, deregistration);
  ASSERT_EQ(deregistered.deregistered().results_size(), 2);
  EXPECT_EQ(deregistered.deregistered().results(0).code(), 0);
  EXPECT_EQ(deregistered.deregistered().results(0).instance_id(), "f1");
  EXPECT_EQ(deregistered.deregistered().results(1).code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Instances("films"), std::set<std::string>{});

  SessionRequest close;
  close.set_request_id(5);
  close.mutable_close();
  EXPECT_TRUE(Exchange(*session.stream, close).has_closed());
  session.stream->WritesDone();
  EXPECT_TRUE(EndOf(*session.stream).ok());
  EXPECT_TRUE(WaitFor([&] { return Instances("books").empty(); }));
}

TEST_F(SessionStreamTest, TheFirstRequestMustOpenOrResume) {
  Opened session = NewStream();
  ASSERT_TRUE(session.stream->Write(KeepAlive()));
  const grpc::Status status = EndOf(*session.stream);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("open or resume"), std::string::npos) << status.error_message();
}

TEST_F(SessionStreamTest, AGraceLongerThanTheTtlIsRefusedByName) {
  Opened session = NewStream();
  ASSERT_TRUE(session.stream->Write(Open(5'000, 6'000)));
  const grpc::Status status = EndOf(*session.stream);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("grace_ms"), std::string::npos) << status.error_message();
}

TEST_F(SessionStreamTest, TooManyInstancesInOneRequestEndTheStreamNamingTheLimit) {
  Opened session = NewStream();
  Exchange(*session.stream, Open(30'000));
  SessionRequest registration;
  for (int i = 0; i < 1001; ++i) {
    registry::v1::RegisterRequest& instance = *registration.mutable_register_()->add_instances();
    instance.set_service("books");
    instance.set_address("127.0.0.1:9000");
  }
  ASSERT_TRUE(session.stream->Write(registration));
  const grpc::Status status = EndOf(*session.stream);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("1000"), std::string::npos) << status.error_message();
}

TEST_F(SessionStreamTest, ABrokenStreamIsResumedWithItsTokenAndKeepsEveryInstance) {
  Opened first = NewStream();
  const registry::v1::SessionOpened opened = Exchange(*first.stream, Open(30'000)).opened();
  Exchange(*first.stream, Register({{"books", "b1"}, {"books", "b2"}}));
  first.context->TryCancel();  // the client's connection broke
  EndOf(*first.stream);

  Opened intruder = NewStream();
  SessionRequest wrong;
  wrong.mutable_resume()->set_session_id(opened.session_id());
  wrong.mutable_resume()->set_token(std::string(16, 'x'));
  ASSERT_TRUE(intruder.stream->Write(wrong));
  EXPECT_EQ(EndOf(*intruder.stream).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  Opened second = NewStream();
  SessionRequest resume;
  resume.set_request_id(9);
  resume.mutable_resume()->set_session_id(opened.session_id());
  resume.mutable_resume()->set_token(opened.token());
  registry::v1::ListSessionsResponse listed;
  // In grace once the server has seen the break.
  EXPECT_TRUE(WaitFor([&] {
    listed.Clear();
    EXPECT_TRUE(server_.native().ListSessions(Context().get(), {}, &listed).ok());
    return listed.sessions_size() == 1 && !listed.sessions(0).attached();
  }));
  ASSERT_EQ(listed.sessions_size(), 1);
  EXPECT_EQ(listed.sessions(0).session_id(), opened.session_id());
  EXPECT_EQ(listed.sessions(0).instances(), 2u);
  EXPECT_NE(listed.sessions(0).peer(), "");
  EXPECT_LE(listed.sessions(0).ttl_remaining_ms(), 30'000u);
  const SessionResponse resumed = Exchange(*second.stream, resume);
  EXPECT_TRUE(resumed.opened().resumed());
  EXPECT_EQ(resumed.opened().instances(), 2u);
  EXPECT_EQ(Instances("books"), (std::set<std::string>{"b1", "b2"}));
  EXPECT_EQ(Exchange(*second.stream, KeepAlive()).kept_alive().ttl_ms(), 30'000u);
  EXPECT_EQ(server_.server().registry().sessions().resumed_sessions(), 1u);
  EXPECT_EQ(server_.server().registry().sessions().live_sessions(), 1u);
}

// Discover tells an instance in a session its session's time left: a full
// TTL while the stream is open, the grace once it broke.
TEST_F(SessionStreamTest, DiscoverGivesAnInstanceItsSessionsTimeLeft) {
  const auto time_left = [&] {
    registry::v1::DiscoverRequest request;
    request.set_service("books");
    registry::v1::DiscoverResponse reply;
    EXPECT_TRUE(server_.native().Discover(Context().get(), request, &reply).ok());
    return reply.instances_size() == 1 ? reply.instances(0).ttl_remaining_ms() : 0u;
  };
  Opened session = NewStream();
  Exchange(*session.stream, Open(60'000, 2'000));
  Exchange(*session.stream, Register({{"books", "b1"}}));
  EXPECT_GT(time_left(), 2'000u);
  EXPECT_LE(time_left(), 60'000u);
  session.context->TryCancel();
  EndOf(*session.stream);
  // A reply built before the break may serve for a tick.
  EXPECT_TRUE(WaitFor([&] { return time_left() <= 2'000u; }));
}

TEST_F(SessionStreamTest, WithoutGraceABrokenStreamsInstancesGoAtOnce) {
  Opened session = NewStream();
  Exchange(*session.stream, Open(30'000, 0));
  Exchange(*session.stream, Register({{"books", "b1"}}));
  session.context->TryCancel();
  EndOf(*session.stream);
  EXPECT_TRUE(WaitFor([&] { return Instances("books").empty(); }));
}

TEST_F(SessionStreamTest, ASilentClientsSessionExpiresWithItsInstances) {
  Opened session = NewStream();
  const registry::v1::SessionOpened opened = Exchange(*session.stream, Open(1'000)).opened();
  Exchange(*session.stream, Register({{"books", "b1"}}));
  EXPECT_TRUE(WaitFor([&] { return Instances("books").empty(); }));
  // The stream is still open; its next request finds the session gone.
  ASSERT_TRUE(session.stream->Write(KeepAlive()));
  EXPECT_EQ(EndOf(*session.stream).error_code(), grpc::StatusCode::NOT_FOUND);

  Opened late = NewStream();
  SessionRequest resume;
  resume.mutable_resume()->set_session_id(opened.session_id());
  resume.mutable_resume()->set_token(opened.token());
  ASSERT_TRUE(late.stream->Write(resume));
  EXPECT_EQ(EndOf(*late.stream).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(server_.server().registry().sessions().expired_sessions(), 1u);
  EXPECT_EQ(server_.server().registry().sessions().live_sessions(), 0u);
}

// A client pinging an idle session stream as the README says (here scaled
// down: every second against a server that allows every second) keeps its
// stream: never GOAWAY too_many_pings, which gRPC's default policy sends
// from the third ping.
TEST(PingPolicyTest, AClientPingingAsDocumentedKeepsItsStream) {
  ServerOptions options = TestServerOptions();
  options.keepalive.min_client_ping_interval = std::chrono::seconds(1);
  TestServer server(options);
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 1000);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  arguments.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  auto channel = grpc::CreateCustomChannel(server.server().address(), grpc::InsecureChannelCredentials(), arguments);
  auto stub = registry::v1::Registry::NewStub(channel);
  auto context = Context();
  auto stream = stub->Session(context.get());
  SessionRequest open;
  open.mutable_open()->set_ttl_ms(30'000);
  ASSERT_TRUE(stream->Write(open));
  SessionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  // Idle for several pings: the wait is the test (pings need real time).
  std::this_thread::sleep_for(std::chrono::seconds(6));
  SessionRequest keep_alive;
  keep_alive.mutable_keep_alive();
  ASSERT_TRUE(stream->Write(keep_alive));
  ASSERT_TRUE(stream->Read(&response)) << stream->Finish().error_message();
  EXPECT_TRUE(response.has_kept_alive());
}

}  // namespace
}  // namespace registryd::testing
