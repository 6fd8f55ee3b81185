// envoy.service.discovery.v3 ADS over the wire, as a proxyless gRPC client
// uses it: the four resource types for a service, pushes on every kind of
// change, ACKs and NACKs, bad requests, many streams, and streams ended by
// clients and by shutdown.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include "envoy/discovery.grpc.pb.h"
#include "envoy/endpoint.pb.h"
#include "envoy/listener.pb.h"
#include "metrics/thread_metrics.h"
#include "test_server.h"
#include "xds/resource_type.h"

namespace registryd::testing {
namespace {

using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using xds::ResourceType;

DiscoveryRequest Request(ResourceType type, const std::vector<std::string>& names, const std::string& nonce = "") {
  DiscoveryRequest request;
  request.mutable_node()->set_id("ads-test");
  request.set_type_url(std::string(xds::kTypeUrls[xds::IndexOf(type)]));
  for (const std::string& name : names) request.add_resource_names(name);
  request.set_response_nonce(nonce);
  return request;
}

class AdsStream {
 public:
  explicit AdsStream(AggregatedDiscoveryService::Stub& stub) : context_(Context()) {
    stream_ = stub.StreamAggregatedResources(context_.get());
  }
  void Send(const DiscoveryRequest& request) { EXPECT_TRUE(stream_->Write(request)); }
  // The next response; fails the test if the stream ends instead.
  DiscoveryResponse Next() {
    DiscoveryResponse response;
    EXPECT_TRUE(stream_->Read(&response)) << "the stream ended";
    return response;
  }
  // Subscribes and returns the response; ACKs it.
  DiscoveryResponse Subscribe(ResourceType type, const std::vector<std::string>& names) {
    Send(Request(type, names));
    DiscoveryResponse response = Next();
    EXPECT_EQ(response.type_url(), xds::kTypeUrls[xds::IndexOf(type)]);
    Ack(response, names);
    return response;
  }
  void Ack(const DiscoveryResponse& response, const std::vector<std::string>& names) {
    DiscoveryRequest ack = Request(ResourceType::kListener, names, response.nonce());
    ack.set_type_url(response.type_url());
    ack.set_version_info(response.version_info());
    Send(ack);
  }
  grpc::Status End() {
    stream_->WritesDone();
    DiscoveryResponse unexpected;
    while (stream_->Read(&unexpected)) {
    }
    return stream_->Finish();
  }
  grpc::Status Finish() {
    DiscoveryResponse unexpected;
    while (stream_->Read(&unexpected)) {
    }
    return stream_->Finish();
  }
  void Cancel() {
    context_->TryCancel();
    (void)Finish();
  }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<DiscoveryRequest, DiscoveryResponse>> stream_;
};

// The endpoints of a ClusterLoadAssignment response: "priority:port" each.
std::vector<std::string> Endpoints(const DiscoveryResponse& response) {
  std::vector<std::string> endpoints;
  for (const auto& resource : response.resources()) {
    ClusterLoadAssignment assignment;
    EXPECT_TRUE(resource.UnpackTo(&assignment));
    for (const auto& locality : assignment.endpoints()) {
      for (const auto& endpoint : locality.lb_endpoints()) {
        endpoints.push_back(std::to_string(locality.priority()) + ":" +
                            std::to_string(endpoint.endpoint().address().socket_address().port_value()));
      }
    }
  }
  std::sort(endpoints.begin(), endpoints.end());
  return endpoints;
}

class AdsTest : public ::testing::Test {
 protected:
  AdsTest() : ads_(AggregatedDiscoveryService::NewStub(server_.NewChannel())) {}

  uint64_t Register(const std::string& service, const std::string& id, uint32_t port, bool overloaded = false) {
    registry::v1::RegisterRequest request;
    request.set_service(service);
    request.set_instance_id(id);
    request.set_address("127.0.0.1:" + std::to_string(port));
    request.set_overloaded(overloaded);
    registry::v1::RegisterResponse reply;
    EXPECT_TRUE(server_.native().Register(Context().get(), request, &reply).ok());
    return reply.lease_id();
  }
  void Heartbeat(uint64_t lease, bool overloaded) {
    registry::v1::HeartbeatRequest request;
    request.set_lease_id(lease);
    request.set_overloaded(overloaded);
    registry::v1::HeartbeatResponse reply;
    EXPECT_TRUE(server_.native().Heartbeat(Context().get(), request, &reply).ok());
  }
  void Deregister(uint64_t lease) {
    registry::v1::DeregisterRequest request;
    request.set_lease_id(lease);
    registry::v1::DeregisterResponse reply;
    EXPECT_TRUE(server_.native().Deregister(Context().get(), request, &reply).ok());
  }

  TestServer server_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> ads_;
};

TEST_F(AdsTest, AClientGetsTheFourResourcesOfAServiceInTurn) {
  Register("orders", "a", 1001);
  AdsStream stream(*ads_);
  const DiscoveryResponse listeners = stream.Subscribe(ResourceType::kListener, {"orders"});
  ASSERT_EQ(listeners.resources_size(), 1);
  envoy::config::listener::v3::Listener listener;
  ASSERT_TRUE(listeners.resources(0).UnpackTo(&listener));
  EXPECT_EQ(listener.name(), "orders");
  EXPECT_EQ(listeners.control_plane().identifier(), "registryd");
  EXPECT_EQ(stream.Subscribe(ResourceType::kRouteConfiguration, {"orders"}).resources_size(), 1);
  EXPECT_EQ(stream.Subscribe(ResourceType::kCluster, {"orders"}).resources_size(), 1);
  EXPECT_EQ(Endpoints(stream.Subscribe(ResourceType::kClusterLoadAssignment, {"orders"})),
            (std::vector<std::string>{"0:1001"}));
  stream.Cancel();
}

TEST_F(AdsTest, EveryKindOfChangeIsPushedAsANewVersionAndAnAckIsNotAnswered) {
  AdsStream stream(*ads_);
  DiscoveryResponse response = stream.Subscribe(ResourceType::kClusterLoadAssignment, {"orders"});
  EXPECT_TRUE(Endpoints(response).empty());  // an unknown service: no endpoints, at once

  // Each step's response is the next one read: nothing came in between
  // (the ACK of the one before was not answered).
  const auto next = [&](const std::vector<std::string>& expected) {
    const std::string before = response.version_info();
    response = stream.Next();
    EXPECT_NE(response.version_info(), before);
    stream.Ack(response, {"orders"});
    EXPECT_EQ(Endpoints(response), expected);
  };
  const uint64_t a = Register("orders", "a", 1001);
  next({"0:1001"});
  const uint64_t b = Register("orders", "b", 1002);
  next({"0:1001", "0:1002"});
  Heartbeat(b, /*overloaded=*/true);
  next({"0:1001", "1:1002"});
  Deregister(a);
  next({"0:1002"});  // all overloaded: they share priority 0
  Heartbeat(b, /*overloaded=*/false);  // the same endpoints: nothing to push
  Register("orders", "c", 1003, /*overloaded=*/true);
  next({"0:1002", "1:1003"});
  stream.Cancel();
}

TEST_F(AdsTest, EjectionAndExpiryArePushed) {
  registry_service::RecordRequest seed;
  seed.set_serverid(7);
  seed.set_serverip("127.0.0.1");
  seed.set_serverport(7000);
  seed.set_service("books");
  registry_service::QueryReply recorded;
  ASSERT_TRUE(server_.seed_registry().discovery(Context().get(), seed, &recorded).ok());
  registry::v1::RegisterRequest short_lived;
  short_lived.set_service("books");
  short_lived.set_instance_id("short");
  short_lived.set_address("127.0.0.1:7001");
  short_lived.set_ttl_ms(1'000);
  registry::v1::RegisterResponse registered;
  ASSERT_TRUE(server_.native().Register(Context().get(), short_lived, &registered).ok());

  AdsStream stream(*ads_);
  DiscoveryResponse response = stream.Subscribe(ResourceType::kClusterLoadAssignment, {"books"});
  EXPECT_EQ(Endpoints(response), (std::vector<std::string>{"0:7000", "0:7001"}));
  discovery_service::ServerError warn;
  warn.set_serverid(7);
  discovery_service::QueryReply replacement;
  ASSERT_TRUE(server_.seed_discovery().warnServerError(Context().get(), warn, &replacement).ok());
  // The ejection, then the expiry within about a second (maybe in one push).
  for (int pushes = 0; pushes < 2 && !Endpoints(response).empty(); ++pushes) {
    response = stream.Next();
    stream.Ack(response, {"books"});
    const std::vector<std::string> endpoints = Endpoints(response);
    EXPECT_EQ(std::count(endpoints.begin(), endpoints.end(), "0:7000"), 0);
  }
  EXPECT_TRUE(Endpoints(response).empty());
  stream.Cancel();
}

TEST_F(AdsTest, ANackIsCountedAndNotAnsweredWithTheSameVersion) {
  AdsStream stream(*ads_);
  stream.Send(Request(ResourceType::kClusterLoadAssignment, {"orders"}));
  const DiscoveryResponse first = stream.Next();
  const uint64_t nacks_before = metrics::Collect().xds_nacks[xds::IndexOf(ResourceType::kClusterLoadAssignment)];
  DiscoveryRequest nack = Request(ResourceType::kClusterLoadAssignment, {"orders"}, first.nonce());
  nack.set_version_info(first.version_info());
  nack.mutable_error_detail()->set_code(3);
  nack.mutable_error_detail()->set_message("ads_test does not like it");
  stream.Send(nack);
  // Counted before anything changes: a push sent before the NACK is read
  // would make its nonce stale, and a stale one is ignored.
  EXPECT_TRUE(WaitFor([&] {
    return metrics::Collect().xds_nacks[xds::IndexOf(ResourceType::kClusterLoadAssignment)] == nacks_before + 1;
  }));
  Register("orders", "a", 1001);
  const DiscoveryResponse second = stream.Next();  // the change, not the NACKed version again
  EXPECT_EQ(Endpoints(second), (std::vector<std::string>{"0:1001"}));
  stream.Cancel();
}

TEST_F(AdsTest, OneResponseCarriesEverySubscribedResourceOfItsType) {
  Register("orders", "a", 1001);
  Register("books", "b", 2001);
  AdsStream stream(*ads_);
  DiscoveryResponse response = stream.Subscribe(ResourceType::kClusterLoadAssignment, {"orders"});
  stream.Send(Request(ResourceType::kClusterLoadAssignment, {"orders", "books"}, response.nonce()));
  response = stream.Next();
  EXPECT_EQ(response.resources_size(), 2);
  EXPECT_EQ(Endpoints(response), (std::vector<std::string>{"0:1001", "0:2001"}));
  stream.Ack(response, {"orders", "books"});
  Register("books", "c", 2002);
  response = stream.Next();
  EXPECT_EQ(Endpoints(response), (std::vector<std::string>{"0:1001", "0:2001", "0:2002"}));
  stream.Cancel();
}

TEST_F(AdsTest, ABadRequestEndsTheStreamWithInvalidArgumentAndNothingRegisteredIsLost) {
  Register("orders", "a", 1001);
  {
    AdsStream stream(*ads_);
    DiscoveryRequest unknown = Request(ResourceType::kListener, {"orders"});
    unknown.set_type_url("type.googleapis.com/envoy.config.cluster.v3.Nonsense");
    stream.Send(unknown);
    const grpc::Status status = stream.Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("type_url"), std::string::npos) << status.error_message();
  }
  {
    AdsStream stream(*ads_);
    DiscoveryRequest not_utf8 = Request(ResourceType::kListener, {"orders"});
    not_utf8.add_resource_names("\xff\xfe");
    stream.Send(not_utf8);
    const grpc::Status status = stream.Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("DiscoveryRequest"), std::string::npos) << status.error_message();
  }
  AdsStream stream(*ads_);
  EXPECT_EQ(Endpoints(stream.Subscribe(ResourceType::kClusterLoadAssignment, {"orders"})),
            (std::vector<std::string>{"0:1001"}));
  EXPECT_TRUE(stream.End().ok());
}

TEST_F(AdsTest, ManyStreamsAllGetTheChangeWhileOthersCome) {
  constexpr int kStreams = 40;
  std::vector<std::unique_ptr<AdsStream>> streams;
  std::vector<DiscoveryResponse> responses(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(std::make_unique<AdsStream>(*ads_));
    responses[i] = streams.back()->Subscribe(ResourceType::kClusterLoadAssignment, {"orders"});
  }
  // Half the clients leave while the change is pushed.
  std::thread leaving([&] {
    for (int i = 0; i < kStreams; i += 2) streams[i]->Cancel();
  });
  Register("orders", "a", 1001);
  leaving.join();
  for (int i = 1; i < kStreams; i += 2) {
    EXPECT_EQ(Endpoints(streams[i]->Next()), (std::vector<std::string>{"0:1001"})) << "stream " << i;
    EXPECT_TRUE(streams[i]->End().ok());
  }
}

TEST(AdsShutdownTest, ShutdownEndsOpenAdsStreamsWithoutWaitingForTheDeadline) {
  ServerOptions options = TestServerOptions();
  options.shutdown_timeout = std::chrono::seconds(60);
  TestServer server(options);
  auto ads = AggregatedDiscoveryService::NewStub(server.NewChannel());
  std::vector<std::unique_ptr<AdsStream>> streams;
  for (int i = 0; i < 8; ++i) {
    streams.push_back(std::make_unique<AdsStream>(*ads));
    streams.back()->Subscribe(ResourceType::kClusterLoadAssignment, {"orders"});
  }
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server.server().Shutdown();
    stopped = true;
  });
  for (auto& stream : streams) {
    const grpc::Status status = stream->Finish();  // ends instead of hanging
    EXPECT_TRUE(status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                status.error_code() == grpc::StatusCode::CANCELLED || status.ok())
        << status.error_code();
  }
  EXPECT_TRUE(WaitFor([&] { return stopped.load(); }, std::chrono::seconds(20)));
  stopper.join();
}

TEST(AdsOffTest, WithXdsOffTheServiceIsUnimplemented) {
  ServerOptions options = TestServerOptions();
  options.xds = false;
  TestServer server(options);
  auto ads = AggregatedDiscoveryService::NewStub(server.NewChannel());
  auto context = Context();
  auto stream = ads->StreamAggregatedResources(context.get());
  (void)stream->Write(Request(ResourceType::kListener, {"orders"}));  // may fail: the call may be over already
  DiscoveryResponse unexpected;
  EXPECT_FALSE(stream->Read(&unexpected));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace registryd::testing
