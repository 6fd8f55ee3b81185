#include "core/instance.h"

#include <charconv>

#include <fmt/core.h>

namespace registryd {

int32_t InstanceRecord::SeedVisibleId() const {
  if (seed_id) return *seed_id;
  int32_t numeric = 0;
  const char* end = instance_id.data() + instance_id.size();
  const auto [parsed_to, error] = std::from_chars(instance_id.data(), end, numeric);
  return error == std::errc() && parsed_to == end ? numeric : 0;
}

std::string InstanceRecord::Address() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

}  // namespace registryd
