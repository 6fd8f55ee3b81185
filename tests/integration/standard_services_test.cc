// The standard services on registryd's port: grpc.health.v1 and reflection.
#include <set>
#include <string>
#include <vector>
#include <thread>

#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/impl/codegen/sync_stream.h>
#include <gtest/gtest.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "registryd/lenient_requests.pb.h"
#include "reflection_wire.pb.h"
#include "test_server.h"

namespace registryd::testing {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

TEST(HealthTest, ServingWhileUpForTheServerAndEachService) {
  TestServer server;
  auto health = grpc::health::v1::Health::NewStub(server.NewChannel());
  for (const std::string service : {"", "registry.v1.Registry", "registry_service.RegistryService",
                                    "discovery_service.DiscoveryService"}) {
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse reply;
    ASSERT_TRUE(health->Check(Context().get(), request, &reply).ok()) << service;
    EXPECT_EQ(reply.status(), HealthCheckResponse::SERVING) << service;
  }
}

// --seed-api=off: the seed's services are not served (their int32 ids are
// guessable), the native API is.
TEST(SeedApiOffTest, SeedServicesAreUnimplementedAndUnknownToHealth) {
  ServerOptions options = TestServerOptions();
  options.seed_api = false;
  TestServer server(options);

  registry_service::RecordRequest record;
  record.set_serverid(7);
  record.set_serverip("127.0.0.1");
  record.set_serverport(9000);
  record.set_service("Bazar");
  registry_service::QueryReply registered;
  EXPECT_EQ(server.seed_registry().discovery(Context().get(), record, &registered).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  discovery_service::QueryRequest service;
  service.set_service("Bazar");
  discovery_service::QueryReply found;
  EXPECT_EQ(server.seed_discovery().findServer(Context().get(), service, &found).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);

  auto health = grpc::health::v1::Health::NewStub(server.NewChannel());
  for (const std::string seed_service : {"registry_service.RegistryService", "discovery_service.DiscoveryService"}) {
    HealthCheckRequest request;
    request.set_service(seed_service);
    HealthCheckResponse reply;
    EXPECT_EQ(health->Check(Context().get(), request, &reply).error_code(), grpc::StatusCode::NOT_FOUND)
        << seed_service;
  }
  EXPECT_NE(RegisterInstance(server.native(), "native-still-served", "n-1"), 0u);
}

TEST(HealthTest, WatchersSeeNotServingOnceShutdownStarts) {
  TestServer server;
  auto health = grpc::health::v1::Health::NewStub(server.NewChannel());
  auto context = Context();
  auto watch = health->Watch(context.get(), HealthCheckRequest());
  HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  ASSERT_EQ(update.status(), HealthCheckResponse::SERVING);

  std::thread stopper([&] { server.server().Shutdown(); });
  bool saw_not_serving = false;
  while (watch->Read(&update)) saw_not_serving |= update.status() == HealthCheckResponse::NOT_SERVING;
  stopper.join();
  EXPECT_TRUE(saw_not_serving);
}

// Every health Watch stream, on every queue, of a known service or not:
// its status first, NOT_SERVING as its last message once shutdown starts,
// then UNAVAILABLE (not a cancellation that could lose the NOT_SERVING).
TEST(HealthTest, EveryWatchEndsWithNotServingThenUnavailable) {
  TestServer server;  // two queues
  auto health = grpc::health::v1::Health::NewStub(server.NewChannel());
  struct Watch {
    std::string service;
    HealthCheckResponse::ServingStatus first = HealthCheckResponse::UNKNOWN;
    std::unique_ptr<grpc::ClientContext> context = Context();
    std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> stream;
  };
  std::vector<Watch> watches(12);
  for (size_t i = 0; i < watches.size(); i += 3) {
    watches[i].service = "";
    watches[i].first = HealthCheckResponse::SERVING;
    watches[i + 1].service = "registry.v1.Registry";
    watches[i + 1].first = HealthCheckResponse::SERVING;
    watches[i + 2].service = "no.such.Service";
    watches[i + 2].first = HealthCheckResponse::SERVICE_UNKNOWN;
  }
  for (Watch& watch : watches) {
    HealthCheckRequest request;
    request.set_service(watch.service);
    watch.stream = health->Watch(watch.context.get(), request);
    HealthCheckResponse first;
    ASSERT_TRUE(watch.stream->Read(&first)) << watch.service;
    EXPECT_EQ(first.status(), watch.first) << watch.service;
  }

  std::thread stopper([&] { server.server().Shutdown(); });
  for (Watch& watch : watches) {
    std::vector<HealthCheckResponse::ServingStatus> rest;
    for (HealthCheckResponse update; watch.stream->Read(&update);) rest.push_back(update.status());
    EXPECT_EQ(rest, std::vector{HealthCheckResponse::NOT_SERVING}) << watch.service;
    const grpc::Status ended = watch.stream->Finish();
    EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << watch.service << ": " << ended.error_message();
  }
  stopper.join();
}

// The service name is text to compare, never a reason to fail the call:
// bytes that are not UTF-8 name no service (NOT_FOUND), not INTERNAL.
TEST(HealthTest, CheckOfANameThatIsNotUtf8IsNotFound) {
  TestServer server;
  std::shared_ptr<grpc::Channel> channel = server.NewChannel();
  const grpc::internal::RpcMethod check("/grpc.health.v1.Health/Check", grpc::internal::RpcMethod::NORMAL_RPC);
  lenient::HealthCheckRequest request;
  request.set_service("\xff\xfe registry");
  HealthCheckResponse reply;
  const grpc::Status status = grpc::internal::BlockingUnaryCall<lenient::HealthCheckRequest, HealthCheckResponse>(
      channel.get(), check, Context().get(), request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
}

// What reflection lists, called with wire-compatible messages of our own
// (see tests/protos/reflection_wire.proto).
std::set<std::string> ReflectedServices(const std::shared_ptr<grpc::Channel>& channel) {
  const grpc::internal::RpcMethod method("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                         grpc::internal::RpcMethod::BIDI_STREAMING);
  auto context = Context();
  std::unique_ptr<grpc::ClientReaderWriter<registryd::testing::ReflectionRequest,
                                           registryd::testing::ReflectionResponse>>
      stream(grpc::internal::ClientReaderWriterFactory<
             registryd::testing::ReflectionRequest,
             registryd::testing::ReflectionResponse>::Create(channel.get(), method, context.get()));
  registryd::testing::ReflectionRequest request;
  request.set_list_services("*");
  EXPECT_TRUE(stream->Write(request));
  EXPECT_TRUE(stream->WritesDone());
  std::set<std::string> names;
  registryd::testing::ReflectionResponse response;
  while (stream->Read(&response)) {
    for (const auto& service : response.list_services_response().service()) names.insert(service.name());
  }
  EXPECT_TRUE(stream->Finish().ok());
  return names;
}

TEST(ReflectionTest, ListsBothApisAndTheStandardServices) {
  TestServer server;
  const std::set<std::string> names = ReflectedServices(server.NewChannel());
  for (const char* expected : {"registry.v1.Registry", "registry_service.RegistryService",
                               "discovery_service.DiscoveryService", "grpc.health.v1.Health",
                               "grpc.reflection.v1alpha.ServerReflection"}) {
    EXPECT_TRUE(names.contains(expected)) << expected;
  }
}

}  // namespace
}  // namespace registryd::testing
