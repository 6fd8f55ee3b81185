// --authz-policy: which identities may do what on which services, read from
// a protobuf text file (PolicyFile in policy.proto) written by hand:
//
//   rule {
//     identity: "spiffe://prod/ns/shop/*"   # exact, prefix ending in '*', or "*"
//     service: "orders"                     # exact, prefix ending in '*', or "*"
//     permission: REGISTER                  # READ, REGISTER or ADMIN
//   }
//   rule { anonymous: true service: "catalog" permission: READ }
//
// Rules only grant; what no rule grants is refused (an empty file refuses
// everything). A caller with no identity is granted only what rules with
// `anonymous: true` grant ("*" is every *authenticated* identity). Those
// rules grant it to every caller: presenting an identity never takes a
// right away.
//
// Immutable: a reload parses a new Policy, and callers holding the old one
// keep it until they let go.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "auth/grants.h"
#include "auth/pattern.h"

namespace registryd::auth {

inline constexpr size_t kMaxPolicyRules = 10'000;

class Policy {
 public:
  // INVALID_ARGUMENT "file:line:column: what is wrong" for the first error.
  static absl::StatusOr<std::shared_ptr<const Policy>> Parse(std::string_view text, std::string_view file_name);

  // What `identity` may do; an empty identity is an anonymous caller. Scans
  // every rule: resolve once per connection or peer, not per call.
  std::shared_ptr<const Grants> GrantsFor(std::string_view identity) const;

  size_t rule_count() const { return rules_.size(); }
 private:
  struct Rule {
    std::vector<Pattern> identities;
    bool anonymous = false;
    std::vector<Pattern> services;
    uint8_t mask = 0;  // bits of Permission
  };

  explicit Policy(std::vector<Rule> rules);
  static bool Applies(const Rule& rule, std::string_view identity);

  std::vector<Rule> rules_;
};

}  // namespace registryd::auth
