#include "test_server.h"

#include <thread>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

namespace registryd::testing {

ServerOptions TestServerOptions() {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.threads = 2;
  options.registry.shard_count = ShardCountForThreads(options.threads);
  options.calls_per_method = 4;
  options.shutdown_timeout = std::chrono::seconds(1);  // streams left open end sooner
  return options;
}

TestServer::TestServer(const ServerOptions& options) : server_(options, clock_) {
  const absl::Status started = server_.Start();
  if (!started.ok()) throw std::runtime_error(std::string(started.message()));
  channel_ = NewChannel();
  seed_registry_ = registry_service::RegistryService::NewStub(channel_);
  seed_discovery_ = discovery_service::DiscoveryService::NewStub(channel_);
  native_ = registry::v1::Registry::NewStub(channel_);
}

TestServer::~TestServer() { server_.Shutdown(); }

std::shared_ptr<grpc::Channel> TestServer::NewChannel() const {
  // A channel of its own (not shared by target), so concurrency tests spread
  // over several connections.
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(server_.address(), grpc::InsecureChannelCredentials(), arguments);
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return context;
}

uint64_t RegisterInstance(registry::v1::Registry::Stub& stub, const std::string& service,
                          const std::string& instance_id, uint32_t ttl_ms,
                          const std::map<std::string, std::string>& metadata) {
  registry::v1::RegisterRequest request;
  request.set_service(service);
  request.set_address("127.0.0.1:9000");
  request.set_instance_id(instance_id);
  request.set_ttl_ms(ttl_ms);
  request.mutable_metadata()->insert(metadata.begin(), metadata.end());
  registry::v1::RegisterResponse reply;
  const grpc::Status status = stub.Register(Context().get(), request, &reply);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return reply.lease_id();
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace registryd::testing
