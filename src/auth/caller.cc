#include "auth/caller.h"

#include <fmt/core.h>

#include "core/log.h"

namespace registryd::auth {
namespace {

std::array<std::atomic<uint64_t>, 3> refusals{};
std::atomic<uint64_t> unknown_tokens{0};

size_t SlotOf(Permission permission) {
  switch (permission) {
    case Permission::kRead: return 0;
    case Permission::kRegister: return 1;
    case Permission::kAdmin: return 2;
  }
  return 0;
}

std::string_view VerbOf(WriteAction action) {
  switch (action) {
    case WriteAction::kRegister: return "register in";
    case WriteAction::kRenew: return "renew a lease in";
    case WriteAction::kDeregister: return "deregister from";
    case WriteAction::kEject: return "eject from";
  }
  return "change";
}

}  // namespace

absl::Status UnknownTokenRefusal() {
  unknown_tokens.fetch_add(1, std::memory_order_relaxed);
  log::Warn("refused: a bearer token that registryd's token file does not hold");
  return absl::UnauthenticatedError("the bearer token is not one registryd's token file holds");
}

uint64_t UnknownTokenCount() { return unknown_tokens.load(std::memory_order_relaxed); }

uint64_t RefusalCount(Permission permission) {
  return refusals[SlotOf(permission)].load(std::memory_order_relaxed);
}

absl::Status Caller::Refuse(Permission lacking, std::string_view action, std::string_view service,
                            std::string_view owner) const {
  refusals[SlotOf(lacking)].fetch_add(1, std::memory_order_relaxed);
  const std::string where = service.empty() ? std::string("any service") : fmt::format("service \"{}\"", service);
  std::string message;
  if (!owner.empty()) {
    message = fmt::format("{} may not {} {}: the instance belongs to \"{}\" (only its owner, or {} on the service, may)",
                          identity_.empty() ? std::string("a caller without an identity")
                                            : fmt::format("identity \"{}\"", identity_),
                          action, where, owner, NameOf(Permission::kAdmin));
  } else if (identity_.empty()) {
    message = fmt::format(
        "a caller without an identity may not {} {}: present a client certificate or a bearer token", action,
        where);
  } else {
    message = fmt::format("identity \"{}\" may not {} {}: the policy grants it no {} there", identity_, action,
                          where, NameOf(lacking));
  }
  log::Fields(log::Level::kWarn,
              {{"identity", identity_}, {"permission", NameOf(lacking)}, {"service", service}},
              "refused: {}", message);
  return identity_.empty() ? absl::UnauthenticatedError(message) : absl::PermissionDeniedError(message);
}

absl::Status Caller::MayWrite(WriteAction action, std::string_view service,
                              std::optional<std::string_view> owner) const {
  const std::string_view verb = VerbOf(action);
  const uint8_t mask = grants_->MaskOf(service);
  if ((mask & BitOf(Permission::kAdmin)) != 0) return absl::OkStatus();
  if (action == WriteAction::kEject) return Refuse(Permission::kAdmin, verb, service);
  if ((mask & BitOf(Permission::kRegister)) == 0) return Refuse(Permission::kRegister, verb, service);
  // An instance registered without an owner (before a policy was set) is
  // anyone's with register on its service; a re-registration makes it the caller's.
  if (owner && !owner->empty() && *owner != identity_) return Refuse(Permission::kAdmin, verb, service, *owner);
  return absl::OkStatus();
}

void Caller::Audit(std::string_view action, std::string_view service, std::string_view instance,
                   const absl::Status& result) const {
  if (audit_ == nullptr) return;
  if (!result.ok() && !absl::IsPermissionDenied(result) && !absl::IsUnauthenticated(result)) return;
  audit_->Write(identity_, action, service, instance, result);
}

absl::Status Caller::MayRead(std::string_view service) const {
  if (grants_->Allows(Permission::kRead, service)) return absl::OkStatus();
  return Refuse(Permission::kRead, "read", service);
}

absl::Status Caller::MayOnEveryService(Permission permission, std::string_view action) const {
  if (grants_->AllowsEveryService(permission)) return absl::OkStatus();
  return Refuse(permission, action, "*");
}

absl::Status Caller::MayOnSome(Permission permission, std::string_view action) const {
  if (grants_->AllowsSome(permission)) return absl::OkStatus();
  return Refuse(permission, action, {});
}

}  // namespace registryd::auth
