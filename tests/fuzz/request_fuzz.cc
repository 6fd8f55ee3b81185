// Every RPC of both APIs (and health's Check) on raw protobuf bytes, handled
// as registryd handles them (the same request types, lenient where registryd's are, and the same
// handlers) against one registry that lives across inputs. The first byte
// picks the RPC. A request that parses must get an answer that is not
// INTERNAL or UNKNOWN, and an instance registered before the fuzzing must
// survive whatever the inputs do (no bad request loses another client's
// registration).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/clock.h"
#include "core/lease_bindings.h"
#include "core/registry.h"
#include "core/validation.h"
#include "core/watch_feed.h"
#include "persist/local_writer.h"
#include "server/health_rpcs.h"
#include "server/native_rpcs.h"
#include "server/seed_rpcs.h"
#include "server/status.h"
#include "server/stream_leases.h"

namespace registryd {
namespace {

constexpr char kCanaryService[] = "canary";
constexpr char kCanaryId[] = "canary-instance";

struct World {
  World()
      : registry(Options(), clock),
        writer(registry, nullptr),
        discover{registry, DiscoverReplyCache(std::chrono::milliseconds(100), 1 << 20)} {
    RegisterSpec canary;
    canary.service = kCanaryService;
    canary.instance_id = kCanaryId;
    canary.host = "10.9.9.9";
    canary.port = 9999;
    canary.ttl = std::chrono::hours(1);
    if (!registry.Register(canary).ok()) std::abort();
    health.Set("", true);
    health.Set("registry.v1.Registry", true);
  }
  static RegistryOptions Options() {
    RegistryOptions options;
    options.max_instances = 10'000;
    options.first_revision = 1;
    return options;
  }

  ManualClock clock;
  Registry registry;
  LocalWriter writer;  // standalone without a data dir: every write answers at once
  DiscoverBackend discover;
  LeaseBindings bindings;
  HealthStatus health;
};

void Check(const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::INTERNAL || status.error_code() == grpc::StatusCode::UNKNOWN) {
    std::abort();
  }
}

template <typename Rpc, typename Backend>
void Call(Backend& backend, std::string_view bytes) {
  typename Rpc::Request request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;  // gRPC refuses it first
  typename Rpc::Reply reply;
  if constexpr (requires { Rpc::kWrites; }) {
    bool answered = false;
    Rpc::Handle(backend, request, reply, [&](grpc::Status status) {
      Check(status);
      answered = true;
    });
    if (!answered) std::abort();  // a write that never answers hangs its call
  } else {
    Check(Rpc::Handle(backend, request, reply));
  }
}

void KeepAlive(World& world, std::string_view bytes) {
  registry::v1::KeepAliveRequest request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  KeepAliveBackend backend{world.writer, world.bindings};
  StreamLeases stream(backend);
  const registry::v1::KeepAliveResponse response = stream.Renew(request);
  Check(grpc::Status(static_cast<grpc::StatusCode>(response.code()), response.message()));
  stream.Release();
}

// What WatchCall<FeedResponses> does with a request before its first write.
void Watch(World& world, std::string_view bytes) {
  lenient::WatchRequest request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  if (!request.service().empty() && !ValidateService("service", request.service()).ok()) return;
  WatchFeed feed(world.registry, request.service(), request.since_revision());
  (void)feed.Next();
}

bool CanaryAlive(World& world) {
  bool found = false;
  world.registry.Discover(kCanaryService, false,
                          [&](const InstanceRecord& record) { found |= record.instance_id() == kCanaryId; });
  return found;
}

}  // namespace
}  // namespace registryd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace registryd;
  static World world;
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 12) {
    case 0: Call<SeedRegisterRpc>(world.writer, bytes); break;
    case 1: Call<SeedHeartbeatRpc>(world.writer, bytes); break;
    case 2: Call<FindServerRpc>(world.registry, bytes); break;
    case 3: Call<WarnServerErrorRpc>(world.writer, bytes); break;
    case 4: Call<RegisterRpc>(world.writer, bytes); break;
    case 5: Call<HeartbeatRpc>(world.writer, bytes); break;
    case 6: Call<DeregisterRpc>(world.writer, bytes); break;
    case 7: Call<DiscoverRpc>(world.discover, bytes); break;
    case 8: Call<ListServicesRpc>(world.registry, bytes); break;
    case 9: KeepAlive(world, bytes); break;
    case 10: Watch(world, bytes); break;
    case 11: Call<HealthCheckRpc>(world.health, bytes); break;
  }
  if (!CanaryAlive(world)) std::abort();
  return 0;
}
