// What a policy grants: three permissions, as bits of a mask. Admin implies
// register (an admin may do every register action, on anyone's instance);
// read is separate, and register does not imply read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/limits.h"

namespace registryd::auth {

enum class Permission : uint8_t { kRead = 1, kRegister = 2, kAdmin = 4 };

// Identities named by policy and token files (as patterns too) are at most
// this long: the registry stores one as an instance's owner.
inline constexpr size_t kMaxIdentityBytes = limits::kMaxIdentityBytes;

std::string_view NameOf(Permission permission);

constexpr uint8_t BitOf(Permission permission) { return static_cast<uint8_t>(permission); }

// A mask with what its bits imply added: register wherever admin.
constexpr uint8_t WithImplied(uint8_t mask) {
  return (mask & BitOf(Permission::kAdmin)) != 0 ? mask | BitOf(Permission::kRegister) : mask;
}

}  // namespace registryd::auth
