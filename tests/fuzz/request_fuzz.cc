// Every RPC of both APIs (and health's Check, and two requests of a Session
// stream) on raw protobuf bytes, handled
// as registryd handles them (the same request types, lenient where registryd's are, and the same
// handlers) against one registry that lives across inputs. The first byte
// picks the RPC, and whether it comes from no policy's anonymous caller or
// from a policy's caller allowed "a*" only. A request that parses must get
// an answer that is not INTERNAL or UNKNOWN, and an instance registered
// before the fuzzing must survive whatever the inputs do (no bad or refused
// request loses another client's registration).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "auth/caller.h"
#include "auth/policy.h"
#include "core/clock.h"
#include "core/lease_bindings.h"
#include "core/registry.h"
#include "core/validation.h"
#include "core/watch_feed.h"
#include "persist/local_writer.h"
#include "server/rpcs/health_rpcs.h"
#include "server/rpcs/native_rpcs.h"
#include "server/rpcs/seed_rpcs.h"
#include "server/queue/status.h"
#include "server/streams/session_stream.h"
#include "server/streams/stream_leases.h"

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
    const absl::StatusOr<std::shared_ptr<const auth::Policy>> policy = auth::Policy::Parse(
        R"(rule { identity: "fuzz" service: "a*" permission: [REGISTER, READ] })", "fuzz.policy");
    if (!policy.ok()) std::abort();
    limited = std::make_shared<const auth::Caller>("fuzz", (*policy)->GrantsFor("fuzz"));
  }
  static RegistryOptions Options() {
    RegistryOptions options;
    options.max_instances = 10'000;
    options.max_sessions = 1'000;  // the clock stands still: broken sessions stay in grace
    options.first_revision = 1;
    return options;
  }

  ManualClock clock;
  Registry registry;
  LocalWriter writer;  // standalone without a data dir: every write answers at once
  DiscoverBackend discover;
  LeaseBindings bindings;
  HealthStatus health;
  auth::CallerRef limited;
};

void Check(const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::INTERNAL || status.error_code() == grpc::StatusCode::UNKNOWN) {
    std::abort();
  }
}

// `caller...`: the caller, for an Rpc with kAuthorized (as UnaryCall passes it).
template <typename Rpc, typename Backend, typename... Caller>
void Handle(Backend& backend, std::string_view bytes, const Caller&... caller) {
  typename Rpc::Request request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;  // gRPC refuses it first
  typename Rpc::Reply reply;
  if constexpr (requires { Rpc::kWrites; }) {
    bool answered = false;
    Rpc::Handle(backend, request, reply, caller..., [&](grpc::Status status) {
      Check(status);
      answered = true;
    });
    if (!answered) std::abort();  // a write that never answers hangs its call
  } else {
    Check(Rpc::Handle(backend, request, reply, caller...));
  }
}

template <typename Rpc, typename Backend>
void Call(Backend& backend, std::string_view bytes, const auth::CallerRef& caller) {
  if constexpr (requires { Rpc::kAuthorized; }) {
    Handle<Rpc>(backend, bytes, caller);
  } else {
    Handle<Rpc>(backend, bytes);
  }
}

void KeepAlive(World& world, std::string_view bytes, const auth::CallerRef& caller) {
  registry::v1::KeepAliveRequest request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  KeepAliveBackend backend{world.writer, world.bindings};
  StreamLeases stream(backend);
  stream.set_caller(caller);
  const registry::v1::KeepAliveResponse response = stream.Renew(request);
  Check(grpc::Status(static_cast<grpc::StatusCode>(response.code()), response.message()));
  stream.Release();
}

// Two requests on one Session stream, then its end (as SessionCall: the
// stream ends at the first error). The first byte splits the input.
void Session(World& world, std::string_view bytes, const auth::CallerRef& caller) {
  if (bytes.empty()) return;
  const size_t split = std::min<size_t>(static_cast<uint8_t>(bytes[0]), bytes.size() - 1);
  SessionStream stream(world.writer);
  stream.set_caller(caller);
  for (const std::string_view part : {bytes.substr(1, split), bytes.substr(1 + split)}) {
    lenient::SessionRequest request;
    if (!request.ParseFromArray(part.data(), static_cast<int>(part.size()))) break;  // gRPC ends the stream
    registry::v1::SessionResponse response;
    bool answered = false;
    grpc::Status status;
    stream.Handle(request, response, [&](grpc::Status answer) {
      status = std::move(answer);
      answered = true;
    });
    if (!answered) std::abort();  // a standalone write answers at once
    Check(status);
    for (const auto& result : response.registered().results()) {
      Check(grpc::Status(static_cast<grpc::StatusCode>(result.code()), result.message()));
    }
    if (!status.ok()) break;
  }
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
  const auth::CallerRef no_policy;
  const auth::CallerRef& caller = (data[0] / 13) % 2 == 0 ? no_policy : world.limited;
  switch (data[0] % 13) {
    case 0: Call<SeedRegisterRpc>(world.writer, bytes, caller); break;
    case 1: Call<SeedHeartbeatRpc>(world.writer, bytes, caller); break;
    case 2: Call<FindServerRpc>(world.registry, bytes, caller); break;
    case 3: Call<WarnServerErrorRpc>(world.writer, bytes, caller); break;
    case 4: Call<RegisterRpc>(world.writer, bytes, caller); break;
    case 5: Call<HeartbeatRpc>(world.writer, bytes, caller); break;
    case 6: Call<DeregisterRpc>(world.writer, bytes, caller); break;
    case 7: Call<DiscoverRpc>(world.discover, bytes, caller); break;
    case 8: Call<ListServicesRpc>(world.registry, bytes, caller); break;
    case 9: KeepAlive(world, bytes, caller); break;
    case 10: Watch(world, bytes); break;
    case 11: Call<HealthCheckRpc>(world.health, bytes, caller); break;
    case 12: Session(world, bytes, caller); break;
  }
  if (!CanaryAlive(world)) std::abort();
  return 0;
}
