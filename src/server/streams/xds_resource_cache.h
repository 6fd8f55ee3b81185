// The serialized xDS resources of one queue's ADS streams: each resource
// entry (xds/resources.h) is built once and shared, as a reference-counted
// slice, by every response that carries it. A Listener, RouteConfiguration
// or Cluster depends on its name alone; a ClusterLoadAssignment is rebuilt
// when its service's revision moved. A resource's content id is a 64-bit
// hash of its bytes: a rebuild that changed nothing clients see (an unknown
// service's revision follows its shard's), or one after the cache started
// over, keeps the id, so streams are not sent what they hold already.
//
// One per queue thread, so no lock. Bounded by two generations per type:
// when the current one holds kMaxEntries, it becomes the previous one (the
// one before is dropped), and an entry used again moves back, so resources
// streams use survive names that are asked for once (a client naming
// thousands of services that do not exist).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <grpcpp/support/slice.h>

#include "absl/container/flat_hash_map.h"
#include "core/registry.h"
#include "xds/resource_type.h"

namespace registryd {

class XdsResourceCache {
 public:
  static constexpr size_t kMaxEntries = 4096;  // per type and generation

  explicit XdsResourceCache(Registry& registry) : registry_(registry) {}

  struct Resource {
    grpc::Slice entry;        // empty: no such resource (not a service name)
    uint64_t content_id = 0;  // a hash of the bytes, never 0; 0 for no resource
  };
  // The resource as of now; valid until the next call.
  const Resource& Get(xds::ResourceType type, const std::string& name);

  Registry& registry() { return registry_; }

 private:
  struct Entry {
    Resource resource;
    uint64_t revision = 0;  // of the service, for a ClusterLoadAssignment
    uint64_t checked = 0;   // the registry's revision when it was last found current
    size_t left_out = 0;    // instances without an IP address, as last warned
  };
  using Entries = absl::flat_hash_map<std::string, Entry>;
  struct Generations {
    Entries current;
    Entries previous;
  };
  static Entries::iterator Insert(Generations& generations, const std::string& name, Entry entry);

  Registry& registry_;
  std::array<Generations, xds::kResourceTypes> entries_;
};

}  // namespace registryd
