#include "auth/policy.h"

#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "auth/identity.h"
#include "auth/permission.h"
#include "registryd/policy.pb.h"
#include "auth/text_file.h"
#include "core/validation.h"

namespace registryd::auth {
namespace {

using google::protobuf::FieldDescriptor;

const FieldDescriptor* RulesField() { return PolicyFile::descriptor()->FindFieldByNumber(PolicyFile::kRuleFieldNumber); }
const FieldDescriptor* FieldOfRule(int number) { return PolicyRule::descriptor()->FindFieldByNumber(number); }

absl::StatusOr<Pattern> ParseIdentityPattern(std::string_view pattern) {
  if (absl::Status status = CheckIdentity(pattern, "identity pattern"); !status.ok()) return status;
  return ParsePattern("identity", pattern);
}

absl::StatusOr<Pattern> ParseServicePattern(std::string_view pattern) {
  absl::StatusOr<Pattern> parsed = ParsePattern("service", pattern);
  if (!parsed.ok()) return parsed;
  // "orders-*" names services that start with "orders-": that much must be
  // a valid service name.
  if (!parsed->text.empty()) {
    if (absl::Status status = ValidateService("service pattern", parsed->text); !status.ok()) return status;
  }
  return parsed;
}

absl::StatusOr<uint8_t> PermissionBit(int value) {
  switch (value) {
    case PolicyRule::READ:
      return BitOf(Permission::kRead);
    case PolicyRule::REGISTER:
      return BitOf(Permission::kRegister);
    case PolicyRule::ADMIN:
      return BitOf(Permission::kAdmin);
  }
  // PERMISSION_UNSPECIFIED, or a number (proto3 enums take any).
  const std::string& name = PolicyRule::Permission_Name(static_cast<PolicyRule::Permission>(value));
  return absl::InvalidArgumentError(
      fmt::format("permission must be READ, REGISTER or ADMIN (got {})", name.empty() ? std::to_string(value) : name));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Policy>> Policy::Parse(std::string_view text, std::string_view file_name) {
  PolicyFile file;
  FieldLocations locations;
  if (absl::Status status = ParseTextFile(text, file_name, file, locations); !status.ok()) return status;
  if (file.rule_size() > static_cast<int>(kMaxPolicyRules)) {
    return ErrorAt(file_name, LocationOf(&locations, RulesField(), kMaxPolicyRules),
                   fmt::format("too many rules: a policy has at most {}", kMaxPolicyRules));
  }

  std::vector<Rule> rules;
  rules.reserve(file.rule_size());
  for (int i = 0; i < file.rule_size(); ++i) {
    const PolicyRule& written = file.rule(i);
    const TextLocation rule_location = LocationOf(&locations, RulesField(), i);
    const FieldLocations* fields = locations.GetTreeForNested(RulesField(), i);
    // The error at the index-th value of the rule's field `number`, else at the rule.
    const auto error_at = [&](int number, int index, const absl::Status& status) {
      return ErrorAt(file_name, LocationOf(fields, FieldOfRule(number), index, rule_location),
                     std::string(status.message()));
    };

    Rule rule;
    rule.anonymous = written.anonymous();
    for (int k = 0; k < written.identity_size(); ++k) {
      absl::StatusOr<Pattern> pattern = ParseIdentityPattern(written.identity(k));
      if (!pattern.ok()) return error_at(PolicyRule::kIdentityFieldNumber, k, pattern.status());
      rule.identities.push_back(*std::move(pattern));
    }
    for (int k = 0; k < written.service_size(); ++k) {
      absl::StatusOr<Pattern> pattern = ParseServicePattern(written.service(k));
      if (!pattern.ok()) return error_at(PolicyRule::kServiceFieldNumber, k, pattern.status());
      rule.services.push_back(*std::move(pattern));
    }
    for (int k = 0; k < written.permission_size(); ++k) {
      absl::StatusOr<uint8_t> bit = PermissionBit(written.permission(k));
      if (!bit.ok()) return error_at(PolicyRule::kPermissionFieldNumber, k, bit.status());
      rule.mask |= *bit;
    }

    if (rule.identities.empty() && !rule.anonymous) {
      return ErrorAt(file_name, rule_location,
                     "rule has no identity and is not anonymous: add identity: \"...\" (\"*\": every authenticated "
                     "identity) or anonymous: true");
    }
    if (rule.services.empty()) {
      return ErrorAt(file_name, rule_location, "rule has no service: add service: \"...\" (\"*\": every service)");
    }
    if (rule.mask == 0) {
      return ErrorAt(file_name, rule_location, "rule has no permission: add permission: READ, REGISTER or ADMIN");
    }
    rules.push_back(std::move(rule));
  }
  return std::shared_ptr<const Policy>(new Policy(std::move(rules)));
}

Policy::Policy(std::vector<Rule> rules)
    : rules_(std::move(rules)) {}

bool Policy::Applies(const Rule& rule, std::string_view identity) {
  if (rule.anonymous) return true;
  if (identity.empty()) return false;
  return std::any_of(rule.identities.begin(), rule.identities.end(),
                     [&](const Pattern& pattern) { return pattern.Matches(identity); });
}

std::shared_ptr<const Grants> Policy::GrantsFor(std::string_view identity) const {
  std::vector<ServiceGrant> granted;
  for (const Rule& rule : rules_) {
    if (!Applies(rule, identity)) continue;
    for (const Pattern& service : rule.services) granted.push_back(ServiceGrant{service, rule.mask});
  }
  return std::make_shared<const Grants>(Grants::Compile(granted));
}

}  // namespace registryd::auth
