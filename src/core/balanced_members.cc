#include "core/balanced_members.h"

#include <algorithm>
#include <charconv>

#include "core/validation.h"

namespace registryd {

uint32_t WeightOf(std::string_view text) {
  uint32_t weight = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), weight);
  if (error != std::errc() || end != text.data() + text.size() || weight < 1 || weight > kMaxWeight) return 1;
  return weight;
}

BalancedMembers ReadBalancedMembers(Registry& registry, std::string_view service, BalancedRead how) {
  BalancedMembers result;
  result.revision = registry.Discover(service, /*exclude_overloaded=*/false, [&](const InstanceRecord& record) {
    if (how.ip_hosts_only && !IsIpLiteral(record.host())) {
      ++result.left_out;
      return;
    }
    BalancedMember& member = result.members.emplace_back();
    member.instance_id = std::string(record.instance_id());
    member.host = std::string(record.host());
    member.port = record.port;
    member.overloaded = record.overloaded;
    for (auto& [key, value] : record.metadata()) {
      if (key == "zone") member.zone = value;
      if (key == "weight") member.weight = WeightOf(value);
      if (how.with_metadata) member.metadata.emplace_back(std::move(key), std::move(value));
    }
  });
  const bool any_available = std::any_of(result.members.begin(), result.members.end(),
                                         [](const BalancedMember& member) { return !member.overloaded; });
  for (BalancedMember& member : result.members) member.priority = member.overloaded && any_available ? 1 : 0;
  return result;
}

}  // namespace registryd
