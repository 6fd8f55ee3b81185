// registry_ceiling: the cost of gRPC alone. Serves the same RPCs of both APIs
// on the same completion-queue machinery as registryd (ServingQueue,
// UnaryCall, KeepAliveCall, WatchCall), but answers every call with a
// constant reply and keeps no state (but Watch's latest event, see
// ceiling_streams.h), so registryd/ceiling isolates what the registry itself
// costs.
//   registry_ceiling --listen 127.0.0.1:0 --threads 1
#include <csignal>
#include <memory>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <grpcpp/impl/codegen/proto_utils.h>

#include "absl/synchronization/mutex.h"
#include "bench/ceiling_streams.h"
#include "server/keep_alive_call.h"
#include "server/log.h"
#include "server/native_rpcs.h"
#include "server/seed_rpcs.h"
#include "server/unary_call.h"
#include "server/watch_call.h"

namespace registryd {
namespace {

// The canned replies; Discover's holds `discover_instances` instances so that
// its size matches a real service's, serialized once as registryd's cache
// keeps it.
constexpr int kStreamsRequestedPerMethod = 4;  // as registryd

struct CannedReplies {
  grpc::ByteBuffer discover;
  WatchBroadcast& broadcast;
};

template <typename Rpc>
struct Constant : Rpc {
  static grpc::Status Handle(CannedReplies& canned, const typename Rpc::Request& request,
                             typename Rpc::Reply& reply) {
    if constexpr (std::is_same_v<typename Rpc::Reply, grpc::ByteBuffer>) {
      reply = canned.discover;
    } else if constexpr (std::is_same_v<typename Rpc::Reply, registry_service::QueryReply>) {
      reply.set_success(true);
    } else if constexpr (std::is_same_v<typename Rpc::Reply, discovery_service::QueryReply>) {
      reply.set_serverid(1);
      reply.set_serverip("127.0.0.1");
      reply.set_serverport(8000);
      reply.set_querysuccess(true);
    } else if constexpr (std::is_same_v<typename Rpc::Reply, registry::v1::RegisterResponse>) {
      canned.broadcast.Publish(request);
      reply.set_lease_id(0x5eed5eed5eed5eedULL);
      reply.set_ttl_ms(60'000);
      reply.set_instance_id("instance");
    } else if constexpr (std::is_same_v<typename Rpc::Reply, registry::v1::HeartbeatResponse>) {
      reply.set_ttl_ms(60'000);
    }
    return grpc::Status::OK;
  }
};

template <typename Rpc>
void StartCalls(typename Rpc::Service& service, ServingQueue& queue, CannedReplies& canned) {
  for (int i = 0; i < 32; ++i) {
    queue.Own(std::make_unique<UnaryCall<Constant<Rpc>, CannedReplies>>(service, queue, canned))
        .RequestNext();
  }
}

}  // namespace
}  // namespace registryd

int main(int argc, char** argv) {
  using namespace registryd;
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);  // as registryd does
  std::string listen = "127.0.0.1:0";
  uint32_t threads = std::max(1u, std::thread::hardware_concurrency());
  int discover_instances = 100;
  CLI::App app{"registry_ceiling: constant replies to registryd's RPCs, for benchmarks"};
  app.add_option("--listen", listen, "Address to serve on")->capture_default_str();
  app.add_option("--threads", threads, "Completion-queue threads")->capture_default_str();
  app.add_option("--discover-instances", discover_instances, "Instances in the canned Discover reply")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  registry::v1::DiscoverResponse discover;
  for (int i = 0; i < discover_instances; ++i) {
    registry::v1::Instance& instance = *discover.add_instances();
    instance.set_service("service");
    instance.set_instance_id("instance-" + std::to_string(i));
    instance.set_address("10.0.0.1:" + std::to_string(1000 + i));
    instance.set_ttl_remaining_ms(60'000);
  }
  discover.set_revision(1);
  WatchHubs watch_hubs;
  WatchBroadcast broadcast(watch_hubs);
  CannedReplies canned{{}, broadcast};
  bool own_buffer = false;
  grpc::SerializationTraits<registry::v1::DiscoverResponse>::Serialize(discover, &canned.discover, &own_buffer);

  grpc::EnableDefaultHealthCheckService(true);
  SeedRegistryService seed_registry;
  SeedDiscoveryService seed_discovery;
  NativeRegistryService native;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&seed_registry);
  builder.RegisterService(&seed_discovery);
  builder.RegisterService(&native);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  for (uint32_t i = 0; i < threads; ++i) cqs.push_back(builder.AddCompletionQueue());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    log::Error("cannot listen on {}", listen);
    return 1;
  }
  CannedKeepAlive::Backend keep_alive;
  std::vector<std::unique_ptr<ServingQueue>> queues;
  for (uint32_t i = 0; i < threads; ++i) {
    queues.push_back(std::make_unique<ServingQueue>(i, std::move(cqs[i])));
    ServingQueue& queue = *queues.back();
    WatchHub& hub = watch_hubs.Add(queue);
    StartCalls<SeedRegisterRpc>(seed_registry, queue, canned);
    StartCalls<SeedHeartbeatRpc>(seed_registry, queue, canned);
    StartCalls<FindServerRpc>(seed_discovery, queue, canned);
    StartCalls<WarnServerErrorRpc>(seed_discovery, queue, canned);
    StartCalls<RegisterRpc>(native, queue, canned);
    StartCalls<HeartbeatRpc>(native, queue, canned);
    StartCalls<DeregisterRpc>(native, queue, canned);
    StartCalls<DiscoverRpc>(native, queue, canned);
    StartCalls<ListServicesRpc>(native, queue, canned);
    for (int stream = 0; stream < kStreamsRequestedPerMethod; ++stream) {
      KeepAliveCall<CannedKeepAlive>::Start(native, queue, keep_alive);
      WatchCall<BroadcastResponses>::Start(native, queue, broadcast, hub);
    }
  }
  // Once every hub is in place: a Register call on any thread wakes them all.
  for (auto& queue : queues) queue->StartThread();
  log::Info("registry_ceiling listening on {}:{} (threads {})", listen.substr(0, listen.rfind(':')), port,
            threads);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  for (size_t i = 0; i < queues.size(); ++i) queues[i]->Close([&] { watch_hubs[i].Cancel(); });
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  for (auto& queue : queues) queue->ShutdownAndJoin();
  return 0;
}
