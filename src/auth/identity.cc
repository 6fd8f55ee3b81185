#include "auth/identity.h"

#include <fmt/format.h>

#include "auth/permission.h"

namespace registryd::auth {

absl::Status CheckIdentity(std::string_view identity, std::string_view what) {
  if (identity.size() > kMaxIdentityBytes) {
    return absl::InvalidArgumentError(
        fmt::format("{} is {} bytes; an identity has at most {}", what, identity.size(), kMaxIdentityBytes));
  }
  for (size_t i = 0; i < identity.size(); ++i) {
    const auto byte = static_cast<unsigned char>(identity[i]);
    if (byte < 0x20 || byte == 0x7f) {
      return absl::InvalidArgumentError(
          fmt::format("{} holds a control character ({:#04x} at byte {})", what, byte, i + 1));
    }
  }
  return absl::OkStatus();
}

}  // namespace registryd::auth
