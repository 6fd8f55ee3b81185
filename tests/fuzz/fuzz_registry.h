// A registry the fuzz targets answer from: instances added with a line each.
#pragma once

#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>

#include "core/registry.h"

namespace registryd {

// Registers one instance on port 8080 for an hour; a refusal aborts the target.
inline void AddFuzzInstance(Registry& registry, const std::string& service, const std::string& id,
                            const std::string& host, bool overloaded, Metadata metadata) {
  RegisterSpec spec;
  spec.service = service;
  spec.instance_id = id;
  spec.host = host;
  spec.port = 8080;
  spec.ttl = std::chrono::hours(1);
  spec.overloaded = overloaded;
  spec.metadata = std::move(metadata);
  if (!registry.Register(spec).ok()) std::abort();
}

}  // namespace registryd
