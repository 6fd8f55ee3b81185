// What an identity may be, wherever one comes from (a policy's pattern, the
// token file, a client certificate): at most kMaxIdentityBytes, the room the
// registry keeps for an instance's owner, and no control character, since
// identities go into log lines, the audit log and refusal messages as they are.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace registryd::auth {

// INVALID_ARGUMENT "<what> is N bytes; an identity has at most 255", or
// "<what> holds a control character (0x0a at byte 7)"; OK otherwise.
absl::Status CheckIdentity(std::string_view identity, std::string_view what);

}  // namespace registryd::auth
