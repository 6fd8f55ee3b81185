// registry_ceiling: what gRPC alone costs for registryd's RPCs. The plainest
// async server that does the same work: the generated async services of both
// APIs and of xDS's ADS, one completion queue and thread per --threads,
// constant replies, no state but what its streams send (the latest Watch
// event; the instances of the one service ADS streams ask about), and nothing
// else on the port (no health, no reflection, none of registryd's
// machinery). registryd/ceiling is what registryd adds.
// --reflection adds gRPC's reflection plugin (a synchronous service, which
// brings a polling thread), to measure what it costs beside the queues.
//   registry_ceiling --listen 127.0.0.1:0 --threads 1
#include <csignal>
#include <memory>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/synchronization/mutex.h"
#include "bench/ceiling_queue.h"
#include "bench/ceiling_streams.h"
#include "bench/ceiling_unary.h"

namespace registryd::ceiling {
namespace {

constexpr int kCallsRequestedPerMethod = 32;  // as registryd
constexpr int kStreamsRequestedPerMethod = 4;  // as registryd; each accepted stream requests the next

template <typename Method>
void RequestCalls(typename Method::Service& service, CeilingQueue& queue, Canned& canned) {
  for (int i = 0; i < kCallsRequestedPerMethod; ++i) {
    queue.Own(std::make_unique<UnaryCall<Method>>(service, queue, canned)).Request();
  }
}

grpc::ByteBuffer CannedDiscoverReply(int instances) {
  registry::v1::DiscoverResponse discover;
  for (int i = 0; i < instances; ++i) {
    registry::v1::Instance& instance = *discover.add_instances();
    instance.set_service("service");
    instance.set_instance_id("instance-" + std::to_string(i));
    instance.set_address("10.0.0.1:" + std::to_string(1000 + i));
    instance.set_ttl_remaining_ms(60'000);
  }
  discover.set_revision(1);
  grpc::ByteBuffer buffer;
  bool own_buffer = false;
  (void)grpc::SerializationTraits<registry::v1::DiscoverResponse>::Serialize(discover, &buffer, &own_buffer);
  return buffer;
}

int Main(int argc, char** argv) {
  // Debian's abseil checks lock order on every absl::Mutex acquisition,
  // gRPC's own included; registryd turns that off, and so does its ceiling.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string listen = "127.0.0.1:0";
  uint32_t threads = std::max(1u, std::thread::hardware_concurrency());
  int discover_instances = 100;
  bool reflection = false;
  CLI::App app{"registry_ceiling: constant replies to registryd's RPCs from a plain async gRPC server"};
  app.add_option("--listen", listen, "Address to serve on")->capture_default_str();
  app.add_option("--threads", threads, "Completion queues, one thread each")->capture_default_str();
  app.add_option("--discover-instances", discover_instances, "Instances in the canned Discover reply")
      ->capture_default_str();
  app.add_flag("--reflection", reflection, "Also serve gRPC's reflection plugin, as registryd does");
  CLI11_PARSE(app, argc, argv);

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  if (reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  AdsBroadcast ads;
  Broadcast broadcast(ads);
  Canned canned{CannedDiscoverReply(discover_instances), broadcast};
  SeedRegistryService seed_registry;
  SeedDiscoveryService seed_discovery;
  NativeService native;
  AdsService xds;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&seed_registry);
  builder.RegisterService(&seed_discovery);
  builder.RegisterService(&native);
  builder.RegisterService(&xds);
  std::vector<std::unique_ptr<CeilingQueue>> queues;
  for (uint32_t i = 0; i < threads; ++i) queues.push_back(std::make_unique<CeilingQueue>(builder.AddCompletionQueue()));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    fmt::print(stderr, "cannot listen on {}\n", listen);
    return 1;
  }
  for (const auto& queue : queues) {
    WatchWake& wake = broadcast.AddQueue(*queue);
    AdsWake& ads_wake = ads.AddQueue(*queue);
    RequestCalls<SeedRegister>(seed_registry, *queue, canned);
    RequestCalls<SeedHeartbeat>(seed_registry, *queue, canned);
    RequestCalls<FindServer>(seed_discovery, *queue, canned);
    RequestCalls<WarnServerError>(seed_discovery, *queue, canned);
    RequestCalls<Register>(native, *queue, canned);
    RequestCalls<Heartbeat>(native, *queue, canned);
    RequestCalls<Deregister>(native, *queue, canned);
    RequestCalls<Discover>(native, *queue, canned);
    RequestCalls<ListServices>(native, *queue, canned);
    for (int stream = 0; stream < kStreamsRequestedPerMethod; ++stream) {
      KeepAliveStream::Start(native, *queue);
      WatchStream::Start(native, *queue, broadcast, wake);
      AdsStream::Start(xds, *queue, ads, ads_wake);
    }
  }
  // Once every queue's wake is in place: a Register on any thread wakes them all.
  for (const auto& queue : queues) queue->StartThread();
  fmt::print(stderr, "registry_ceiling listening on {}:{} (threads {})\n", listen.substr(0, listen.rfind(':')), port,
             threads);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  broadcast.Close();
  ads.Close();
  server->Shutdown(std::chrono::system_clock::now());  // cancels every call under way
  for (const auto& queue : queues) queue->ShutdownAndJoin();
  return 0;
}

}  // namespace
}  // namespace registryd::ceiling

int main(int argc, char** argv) { return registryd::ceiling::Main(argc, argv); }
