#include "auth/grants.h"

#include <algorithm>

namespace registryd::auth {

Grants Grants::Compile(absl::Span<const ServiceGrant> granted) {
  Grants grants;
  for (const ServiceGrant& grant : granted) {
    const uint8_t mask = WithImplied(grant.mask);
    grants.some_service_ |= mask;
    if (grant.service.MatchesEverything()) grants.every_service_ |= mask;
  }
  // Hashed while compiling, so that a policy of thousands of prefixes and
  // names compiles in linear time.
  absl::flat_hash_map<std::string, uint8_t, NameHash, NameEq> prefix_masks;
  for (const ServiceGrant& grant : granted) {
    const uint8_t mask = WithImplied(grant.mask) & ~grants.every_service_;
    if (grant.service.prefix && mask != 0) prefix_masks[grant.service.text] |= mask;
  }
  for (const ServiceGrant& grant : granted) {
    if (grant.service.prefix) continue;
    const std::string_view name = grant.service.text;
    auto [entry, inserted] = grants.exact_.try_emplace(name, grants.every_service_);
    entry->second |= WithImplied(grant.mask);
    if (!inserted || prefix_masks.empty()) continue;
    for (size_t length = 1; length <= name.size(); ++length) {
      if (const auto prefix = prefix_masks.find(name.substr(0, length)); prefix != prefix_masks.end()) {
        entry->second |= prefix->second;
      }
    }
  }
  grants.prefixes_.assign(prefix_masks.begin(), prefix_masks.end());
  std::sort(grants.prefixes_.begin(), grants.prefixes_.end());  // the same policy, the same order
  return grants;
}

bool Grants::Allows(Permission permission, std::string_view service) const {
  const uint8_t bit = BitOf(permission);
  if ((every_service_ & bit) != 0) return true;
  if (const auto entry = exact_.find(service); entry != exact_.end()) return (entry->second & bit) != 0;
  return std::any_of(prefixes_.begin(), prefixes_.end(), [&](const auto& prefix) {
    return (prefix.second & bit) != 0 && service.starts_with(prefix.first);
  });
}

uint8_t Grants::MaskOf(std::string_view service) const {
  if (const auto entry = exact_.find(service); entry != exact_.end()) return entry->second;
  uint8_t mask = every_service_;
  for (const auto& [prefix, bits] : prefixes_) {
    if (service.starts_with(prefix)) mask |= bits;
  }
  return mask;
}

}  // namespace registryd::auth
