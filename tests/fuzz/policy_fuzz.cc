// Arbitrary bytes as a policy file and as a token file: parsing never
// crashes and refuses only with INVALID_ARGUMENT; a policy that parses grants
// exactly what a direct reading of its rules says (on the names its own
// patterns make, and a few fixed ones), admin always implies register, and
// the three questions of Grants agree with each other.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/text_format.h>

#include "absl/strings/match.h"

#include "auth/grants.h"
#include "auth/permission.h"
#include "auth/policy.h"
#include "registryd/policy.pb.h"
#include "auth/tokens.h"

namespace registryd::auth {
namespace {

constexpr size_t kMaxProbes = 12;  // names of each kind, so that an input stays cheap
constexpr Permission kPermissions[] = {Permission::kRead, Permission::kRegister, Permission::kAdmin};

void Require(bool holds) {
  if (!holds) std::abort();
}

bool Matches(std::string_view pattern, std::string_view name) {
  if (!pattern.empty() && pattern.back() == '*') return name.starts_with(pattern.substr(0, pattern.size() - 1));
  return name == pattern;
}

bool Gives(int written, Permission permission) {
  switch (permission) {
    case Permission::kRead:
      return written == PolicyRule::READ;
    case Permission::kRegister:
      return written == PolicyRule::REGISTER || written == PolicyRule::ADMIN;
    case Permission::kAdmin:
      return written == PolicyRule::ADMIN;
  }
  return false;
}

// Names a pattern can tell apart: the pattern, its prefix, and one longer.
void AddProbes(std::string_view pattern, std::vector<std::string>& probes) {
  const bool prefix = !pattern.empty() && pattern.back() == '*';
  const std::string_view stem = prefix ? pattern.substr(0, pattern.size() - 1) : pattern;
  for (const std::string& probe : {std::string(pattern), std::string(stem), std::string(stem) + "x"}) {
    if (probes.size() < kMaxProbes) probes.push_back(probe);
  }
}

bool Applies(const PolicyRule& rule, std::string_view identity) {
  if (rule.anonymous()) return true;
  return !identity.empty() && std::any_of(rule.identity().begin(), rule.identity().end(),
                                          [&](const std::string& pattern) { return Matches(pattern, identity); });
}

bool Gives(const PolicyRule& rule, Permission permission) {
  return std::any_of(rule.permission().begin(), rule.permission().end(),
                     [&](int written) { return Gives(written, permission); });
}

bool Names(const PolicyRule& rule, std::string_view service) {
  return std::any_of(rule.service().begin(), rule.service().end(),
                     [&](const std::string& pattern) { return Matches(pattern, service); });
}

void CheckGrants(const PolicyFile& file, std::string_view identity, const Grants& grants,
                 const std::vector<std::string>& services) {
  for (const Permission permission : kPermissions) {
    bool some = false;
    bool every = false;
    for (const PolicyRule& rule : file.rule()) {
      if (!Applies(rule, identity) || !Gives(rule, permission)) continue;
      some = true;
      every = every || std::find(rule.service().begin(), rule.service().end(), "*") != rule.service().end();
    }
    Require(grants.AllowsSome(permission) == some);
    Require(grants.AllowsEveryService(permission) == every);
    for (const std::string& service : services) {
      const bool expected = std::any_of(file.rule().begin(), file.rule().end(), [&](const PolicyRule& rule) {
        return Applies(rule, identity) && Gives(rule, permission) && Names(rule, service);
      });
      Require(grants.Allows(permission, service) == expected);
    }
  }
  // Admin implies register, whatever the rules say.
  for (const std::string& service : services) {
    Require(!grants.Allows(Permission::kAdmin, service) || grants.Allows(Permission::kRegister, service));
  }
  Require(!grants.AllowsEveryService(Permission::kAdmin) || grants.AllowsEveryService(Permission::kRegister));
  Require(!grants.AllowsSome(Permission::kAdmin) || grants.AllowsSome(Permission::kRegister));
}

void CheckPolicy(std::string_view text) {
  const absl::StatusOr<std::shared_ptr<const Policy>> policy = Policy::Parse(text, "policy");
  if (!policy.ok()) {
    Require(policy.status().code() == absl::StatusCode::kInvalidArgument);
    Require(absl::StartsWith(policy.status().message(), "policy:"));
    return;
  }
  // The reference: the same text read directly, its rules taken as written.
  PolicyFile file;
  Require(google::protobuf::TextFormat::ParseFromString(std::string(text), &file));
  Require((*policy)->rule_count() == static_cast<size_t>(file.rule_size()));

  std::vector<std::string> identities = {"", "a", "spiffe://prod/ns/shop/sa/orders"};
  std::vector<std::string> services = {"a", "orders", "orders-eu", "catalog"};
  for (const PolicyRule& rule : file.rule()) {
    for (const std::string& pattern : rule.identity()) AddProbes(pattern, identities);
    for (const std::string& pattern : rule.service()) AddProbes(pattern, services);
  }
  for (const std::string& identity : identities) CheckGrants(file, identity, *(*policy)->GrantsFor(identity), services);
}

void CheckTokens(std::string_view text) {
  const absl::StatusOr<TokenTable> tokens = TokenTable::Parse(text, "tokens");
  if (!tokens.ok()) {
    Require(tokens.status().code() == absl::StatusCode::kInvalidArgument);
    Require(absl::StartsWith(tokens.status().message(), "tokens:"));
    return;
  }
  Require(tokens->size() <= kMaxTokens);
  // The text as a token: a hash in the file is never its own token.
  if (const std::optional<std::string_view> identity = tokens->IdentityOf(text)) {
    Require(!identity->empty() && identity->size() <= kMaxIdentityBytes);
  }
  Require(!tokens->IdentityOf("").has_value());
}

}  // namespace
}  // namespace registryd::auth

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  registryd::auth::CheckPolicy(input);
  registryd::auth::CheckTokens(input);
  return 0;
}
