// The "authz" target's setting: registryd under a 100-rule policy, its load
// generator sending a bearer token on every call, as a client without a
// client certificate does. The policy is shaped so that the bench's own
// check is not the cheap case: the bench identity's grant on its services
// is a prefix rule among a dozen of its own, and most rules name other
// identities.
#pragma once

#include <string>

#include "bench/temp_dir.h"

namespace registryd::bench {

struct AuthzFiles {
  explicit AuthzFiles(const std::string& prefix);
  TempDir directory;
  std::string policy;  // --authz-policy
  std::string tokens;  // --auth-tokens
  std::string token;   // what the load generator presents
};

inline constexpr int kAuthzRules = 100;

// The metadata value every call of this process carries while set
// ("Bearer ..."); empty: none.
const std::string& CallAuthorization();
void SetCallAuthorization(std::string value);

}  // namespace registryd::bench
