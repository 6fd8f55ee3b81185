// Bounds on every field a client sends. The README lists them; the messages of
// validation.cc quote them, so a client learns the bound from the status.
#pragma once

#include <cstddef>

namespace registryd::limits {

inline constexpr size_t kMaxServiceBytes = 255;
inline constexpr size_t kMaxInstanceIdBytes = 128;
inline constexpr size_t kMaxHostBytes = 253;  // a DNS name's limit
// A caller's identity (a certificate's name, a token's), stored as the owner of what it registers.
inline constexpr size_t kMaxIdentityBytes = 255;
inline constexpr size_t kMaxMetadataEntries = 32;
inline constexpr size_t kMaxMetadataKeyBytes = 63;
inline constexpr size_t kMaxMetadataBytes = 4096;  // keys and values together
inline constexpr int kMinPort = 1;
inline constexpr int kMaxPort = 65535;

}  // namespace registryd::limits
