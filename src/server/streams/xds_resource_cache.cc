#include "server/streams/xds_resource_cache.h"

#include "absl/hash/hash.h"
#include "core/log.h"
#include "core/validation.h"
#include "xds/resources.h"

namespace registryd {

namespace {

// Never 0, which means no resource.
uint64_t ContentId(const std::string& bytes) { return absl::HashOf(absl::string_view(bytes.data(), bytes.size())) | 1; }

}  // namespace

XdsResourceCache::Entries::iterator XdsResourceCache::Insert(Generations& generations, const std::string& name,
                                                             Entry entry) {
  if (generations.current.size() >= kMaxEntries) {
    generations.previous = std::move(generations.current);
    generations.current.clear();
  }
  return generations.current.insert_or_assign(name, std::move(entry)).first;
}

const XdsResourceCache::Resource& XdsResourceCache::Get(xds::ResourceType type, const std::string& name) {
  Generations& generations = entries_[xds::IndexOf(type)];
  auto& entries = generations.current;
  const bool load_assignment = type == xds::ResourceType::kClusterLoadAssignment;
  // Read before the service: every change up to it is in the shards by then.
  const uint64_t registry_revision = load_assignment ? registry_.Revision() : 0;
  auto it = entries.find(name);
  if (it == entries.end()) {
    // Used since the last turn: back into the current generation.
    if (auto old = generations.previous.find(name); old != generations.previous.end()) {
      it = Insert(generations, name, std::move(old->second));
      generations.previous.erase(name);
    }
  }
  const bool known = it != entries.end();
  if (known) {
    Entry& entry = it->second;
    // Nothing changed anywhere since the last look (the other streams of a
    // wake): no lock taken.
    if (!load_assignment || entry.resource.content_id == 0 || entry.checked == registry_revision) {
      return entry.resource;
    }
    if (registry_.ServiceRevision(name) == entry.revision) {
      entry.checked = registry_revision;
      return entry.resource;
    }
  } else {
    it = Insert(generations, name, Entry{});
    if (!ValidateService("resource_names", name).ok()) return it->second.resource;  // no such resource
    if (!load_assignment) {
      const std::string bytes = xds::NamedResourceEntry(type, name);
      it->second.resource = {grpc::Slice(bytes), ContentId(bytes)};
      return it->second.resource;
    }
  }
  Entry& entry = it->second;
  xds::LoadAssignment built = xds::BuildLoadAssignment(registry_, name);
  if (built.left_out > 0 && built.left_out != entry.left_out) {
    log::Warn("xDS: {} instance(s) of service '{}' left out of its endpoints: their host is not an IP address",
              built.left_out, name);
  }
  entry.left_out = built.left_out;
  const std::string bytes = xds::LoadAssignmentEntry(built.assignment);
  // The same bytes keep their slice: responses in flight and new ones share it.
  if (const uint64_t id = ContentId(bytes); !known || entry.resource.content_id != id) {
    entry.resource = {grpc::Slice(bytes), id};
  }
  entry.revision = built.revision;
  entry.checked = registry_revision;
  return entry.resource;
}

}  // namespace registryd
