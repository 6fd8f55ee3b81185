#include "core/instance.h"

#include <charconv>
#include <string>

#include <fmt/core.h>

namespace registryd {

std::optional<int32_t> SeedIdOf(std::string_view instance_id) {
  int32_t id = 0;
  const char* end = instance_id.data() + instance_id.size();
  const auto [parsed_to, error] = std::from_chars(instance_id.data(), end, id);
  if (error != std::errc() || parsed_to != end || std::to_string(id) != instance_id) return std::nullopt;
  return id;
}

std::string InstanceRecord::Address() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

}  // namespace registryd
