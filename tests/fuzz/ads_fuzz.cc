// One ADS stream's requests on raw bytes, handled as registryd's AdsCall
// handles them: each input is a sequence of DiscoveryRequests, each behind a
// two-byte length, against a registry with a few services (overloaded,
// weighted, zoned instances, one with a host name). Bad type URLs, nonces
// and resource names must get INVALID_ARGUMENT naming the field (the stream
// then ends, and the next request starts a new one) or be ignored, never
// anything else; every response due must parse back as a DiscoveryResponse
// of its type holding one resource per valid subscribed name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <grpcpp/grpcpp.h>

#include "core/clock.h"
#include "core/registry.h"
#include "core/validation.h"
#include "envoy/discovery.pb.h"
#include "fuzz_registry.h"
#include "server/streams/xds_resource_cache.h"
#include "xds/ads_subscriptions.h"

namespace registryd {
namespace {

struct World {
  World() : registry(RegistryOptions{}, clock), resources(registry) {
    grpc_init();  // slices outside a server
    AddFuzzInstance(registry, "orders", "a", "10.0.0.1", false, {});
    AddFuzzInstance(registry, "orders", "b", "10.0.0.2", true, {{"zone", "eu-1"}});
    AddFuzzInstance(registry, "orders", "c", "fd00::3", false, {{"weight", "7"}, {"zone", "eu-1"}});
    AddFuzzInstance(registry, "books", "d", "books.internal", false, {});
    AddFuzzInstance(registry, "books", "e", "10.0.0.5", true, {{"weight", "x"}});
  }

  ManualClock clock;
  Registry registry;
  XdsResourceCache resources;
};

World& TheWorld() {
  static World* world = new World();
  return *world;
}

void CheckResponse(World& world, xds::AdsSubscriptions& stream, xds::ResourceType type) {
  std::vector<grpc::Slice> entries;
  std::vector<uint64_t> content;
  size_t valid = 0;
  for (const std::string& name : stream.names(type)) {
    const XdsResourceCache::Resource& resource = world.resources.Get(type, name);
    content.push_back(resource.content_id);
    if (resource.content_id != 0) entries.push_back(resource.entry);
    if (ValidateService("name", name).ok()) ++valid;
  }
  if (entries.size() != valid) std::abort();  // a resource for every valid name, none for others
  if (!stream.Due(type, content)) return;
  stream.Sent(type, std::move(content));
  std::string bytes;
  for (const grpc::Slice& entry : entries) bytes.append(reinterpret_cast<const char*>(entry.begin()), entry.size());
  envoy::service::discovery::v3::DiscoveryResponse response;
  if (!response.ParseFromString(bytes) || response.resources_size() != static_cast<int>(valid)) std::abort();
  for (const auto& resource : response.resources()) {
    if (resource.type_url() != xds::kTypeUrls[xds::IndexOf(type)]) std::abort();
  }
}

}  // namespace
}  // namespace registryd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace registryd;
  World& world = TheWorld();
  xds::AdsSubscriptions stream;
  while (size >= 2) {
    const size_t length = std::min<size_t>(size - 2, (size_t{data[0]} << 8) | data[1]);
    envoy::service::discovery::v3::DiscoveryRequest request;
    const bool parsed = request.ParseFromArray(data + 2, static_cast<int>(length));
    data += 2 + length;
    size -= 2 + length;
    if (!parsed) {
      stream = xds::AdsSubscriptions();  // INVALID_ARGUMENT ends the stream
      continue;
    }
    const absl::StatusOr<xds::RequestOutcome> outcome = stream.Apply(request);
    if (!outcome.ok()) {
      const absl::string_view message = outcome.status().message();
      if (outcome.status().code() != absl::StatusCode::kInvalidArgument ||
          (message.rfind("type_url: ", 0) != 0 && message.rfind("resource_names: ", 0) != 0)) {
        std::abort();
      }
      stream = xds::AdsSubscriptions();
      continue;
    }
    for (size_t type = 0; type < xds::kResourceTypes; ++type) {
      CheckResponse(world, stream, static_cast<xds::ResourceType>(type));
    }
  }
  return 0;
}
