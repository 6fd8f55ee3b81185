// One caller's permissions, compiled from the policy's rules that match its
// identity, so that a check never looks at the policy again: resolved once
// per connection (or peer), then asked on every call.
//
// A check is a mask test, a hash lookup of the service name and, only when
// the name is not one the rules name exactly, a scan of this caller's prefix
// patterns (few: those of its own rules). Admin implies register in every
// question (the masks are compiled with it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "auth/pattern.h"
#include "auth/permission.h"
#include "core/name_hash.h"

namespace registryd::auth {

// What one matching rule gives on one of its service patterns.
struct ServiceGrant {
  Pattern service;
  uint8_t mask;  // bits of Permission
};

class Grants {
 public:
  Grants() = default;  // grants nothing
  static Grants Compile(absl::Span<const ServiceGrant> granted);

  bool Allows(Permission permission, std::string_view service) const;
  // Every permission on `service`, as bits of Permission: one lookup where
  // a check needs several.
  uint8_t MaskOf(std::string_view service) const;
  // Some matching rule gives `permission` on service "*" (a Watch of every
  // service needs read on all of them, present and future).
  bool AllowsEveryService(Permission permission) const { return (every_service_ & BitOf(permission)) != 0; }
  // `permission` on at least one service.
  bool AllowsSome(Permission permission) const { return (some_service_ & BitOf(permission)) != 0; }

 private:
  uint8_t every_service_ = 0;
  uint8_t some_service_ = 0;
  // Each entry holds everything its name is granted (the every-service mask
  // and its matching prefixes folded in): a hit answers alone.
  absl::flat_hash_map<std::string, uint8_t, NameHash, NameEq> exact_;
  // Each distinct prefix once, with only the bits every_service_ lacks.
  std::vector<std::pair<std::string, uint8_t>> prefixes_;
};

}  // namespace registryd::auth
