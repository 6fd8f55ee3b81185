#include "server/xds_resource_cache.h"

#include <cstring>

#include "core/log.h"
#include "core/validation.h"
#include "xds/resources.h"

namespace registryd {

XdsResourceCache::Resource XdsResourceCache::Make(std::string bytes, const Resource* before) {
  if (before != nullptr && before->entry.size() == bytes.size() &&
      std::memcmp(before->entry.begin(), bytes.data(), bytes.size()) == 0) {
    return *before;
  }
  Resource resource;
  resource.entry = grpc::Slice(bytes);
  resource.content_id = next_content_id_++;
  return resource;
}

const XdsResourceCache::Resource& XdsResourceCache::Get(xds::ResourceType type, const std::string& name) {
  auto& entries = entries_[xds::IndexOf(type)];
  const bool load_assignment = type == xds::ResourceType::kClusterLoadAssignment;
  auto it = entries.find(name);
  const bool known = it != entries.end();
  if (known) {
    const Entry& entry = it->second;
    if (!load_assignment || entry.resource.content_id == 0 || registry_.ServiceRevision(name) == entry.revision) {
      return entry.resource;
    }
  } else {
    if (entries.size() >= kMaxEntries) entries.clear();
    it = entries.try_emplace(name).first;
    if (!ValidateService("resource_names", name).ok()) return it->second.resource;  // no such resource
    if (!load_assignment) {
      it->second.resource = Make(xds::NamedResourceEntry(type, name), nullptr);
      return it->second.resource;
    }
  }
  Entry& entry = it->second;
  xds::LoadAssignment built = xds::BuildLoadAssignment(registry_, name);
  if (built.left_out > 0) {
    log::Warn("xDS: {} instance(s) of service '{}' left out of its endpoints: their host is not an IP address",
              built.left_out, name);
  }
  entry.resource = Make(xds::LoadAssignmentEntry(built.assignment), known ? &entry.resource : nullptr);
  entry.revision = built.revision;
  return entry.resource;
}

}  // namespace registryd
