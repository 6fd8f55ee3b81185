// A caller as the policy sees it: an identity (empty: anonymous) and its
// grants, compiled once per connection and asked on every call. It answers
// the core's questions (core/access.h) and the read side's.
//
// A refusal is PERMISSION_DENIED naming the identity, the action and the
// service, or UNAUTHENTICATED for a caller without an identity; each is
// counted by the permission it lacked, and logged (limited per site).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "auth/audit_log.h"
#include "auth/grants.h"
#include "auth/permission.h"
#include "core/access.h"

namespace registryd::auth {

class Caller final : public Access {
 public:
  // `audit`: where its changes are written (--audit-log), or null.
  Caller(std::string identity, std::shared_ptr<const Grants> grants, AuditLog* audit = nullptr)
      : identity_(std::move(identity)), grants_(std::move(grants)), audit_(audit) {}

  std::string_view identity() const override { return identity_; }
  absl::Status MayWrite(WriteAction action, std::string_view service,
                        std::optional<std::string_view> owner) const override;

  absl::Status MayRead(std::string_view service) const;
  // `permission` on every service, present and future: read for a Watch of
  // all of them, admin for a cluster node's Peer calls.
  absl::Status MayOnEveryService(Permission permission, std::string_view action) const;
  // Filters a listing: no refusal is recorded.
  bool CanRead(std::string_view service) const { return grants_->Allows(Permission::kRead, service); }
  bool CanOnEveryService(Permission permission) const { return grants_->AllowsEveryService(permission); }
  // `permission` on some service (an answer that depends on what exists,
  // such as an unknown serverId's, is only given to such a caller).
  absl::Status MayOnSome(Permission permission, std::string_view action) const;

  bool audited() const { return audit_ != nullptr; }
  // A change it made, or was refused (other failures are not changes), to
  // the audit log if there is one.
  void Audit(std::string_view action, std::string_view service, std::string_view instance,
             const absl::Status& result) const;

 private:
  absl::Status Refuse(Permission lacking, std::string_view action, std::string_view service,
                      std::string_view owner = {}) const;

  const std::string identity_;
  const std::shared_ptr<const Grants> grants_;
  AuditLog* const audit_;
};

// The caller of a call or a stream; null when no policy is configured.
using CallerRef = std::shared_ptr<const Caller>;

// `caller` when it writes an audit log, else null: what a change's callback
// keeps for its audit line, so that without an audit log it holds no reference.
inline CallerRef AuditorOf(const CallerRef& caller) { return caller && caller->audited() ? caller : nullptr; }

// Refusals since the start, by the permission that was lacking.
uint64_t RefusalCount(Permission permission);
// A call that presented a bearer token the token file does not hold: refused
// before any permission is asked. Logs it (limited per site) and counts it.
absl::Status UnknownTokenRefusal();
uint64_t UnknownTokenCount();

}  // namespace registryd::auth
