#include "auth/authority.h"

#include <fmt/core.h>

#include "core/read_file.h"

namespace registryd::auth {

CallerRef Authority::Snapshot::CallerFor(std::string identity) const {
  std::shared_ptr<const Grants> grants = policy->GrantsFor(identity);
  return std::make_shared<const Caller>(std::move(identity), std::move(grants), audit);
}

absl::StatusOr<std::shared_ptr<const Authority::Snapshot>> Authority::Parse(uint64_t generation) const {
  const AuthFiles& files = files_;
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->generation = generation;
  snapshot->audit = audit_.get();
  absl::StatusOr<std::string> policy_text = ReadFile(files.policy);
  if (!policy_text.ok()) return policy_text.status();
  absl::StatusOr<std::shared_ptr<const Policy>> policy = Policy::Parse(*policy_text, files.policy);
  if (!policy.ok()) return policy.status();
  snapshot->policy = *std::move(policy);
  if (files.tokens.empty()) {
    snapshot->tokens = std::make_shared<const TokenTable>();
  } else {
    absl::StatusOr<std::string> tokens_text = ReadFile(files.tokens);
    if (!tokens_text.ok()) return tokens_text.status();
    absl::StatusOr<TokenTable> tokens = TokenTable::Parse(*tokens_text, files.tokens);
    if (!tokens.ok()) return tokens.status();
    snapshot->tokens = std::make_shared<const TokenTable>(*std::move(tokens));
  }
  return snapshot;
}

absl::StatusOr<std::unique_ptr<Authority>> Authority::Load(AuthFiles files) {
  std::unique_ptr<Authority> authority(new Authority(std::move(files)));
  if (!authority->files_.audit_log.empty()) {
    absl::StatusOr<std::unique_ptr<AuditLog>> audit = AuditLog::Open(authority->files_.audit_log);
    if (!audit.ok()) return audit.status();
    authority->audit_ = *std::move(audit);
  }
  if (absl::Status loaded = authority->Reload(); !loaded.ok()) return loaded;
  return authority;
}

absl::Status Authority::Reload() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<std::shared_ptr<const Snapshot>> parsed = Parse(generation() + 1);
  if (!parsed.ok()) return parsed.status();
  current_ = *std::move(parsed);
  generation_.store(current_->generation, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status Authority::ReopenAuditLog() { return audit_ ? audit_->Reopen() : absl::OkStatus(); }

std::string Authority::Describe() const {
  const std::shared_ptr<const Snapshot> current = Current();
  std::string text = fmt::format("policy {} ({} rules)", files_.policy, current->policy->rule_count());
  if (!files_.tokens.empty()) text += fmt::format(", bearer tokens {} ({})", files_.tokens, current->tokens->size());
  return text;
}

std::string Describe(const Authority* authority) {
  if (authority == nullptr) return "none (no --authz-policy: anyone may change the registry)";
  return authority->Describe();
}

std::shared_ptr<const Authority::Snapshot> Authority::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

}  // namespace registryd::auth
