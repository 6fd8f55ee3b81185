// Who asks for a change, as the registry checks it: where it finds what the
// change touches (under the shard's lock, or against the stored revision a
// cluster write is conditional on), so that nothing changes between the
// check and the change. The questions are the core's; the answers come from
// the authorization layer (src/auth). No Access (a null pointer): no policy,
// anyone may change anything.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace registryd {

enum class WriteAction : uint8_t {
  kRegister,    // create or update an instance, or move a seed id out of its service
  kRenew,       // heartbeat, KeepAlive
  kDeregister,
  kEject,       // warnServerError: anyone's instance, so admin only
};

class Access {
 public:
  virtual ~Access() = default;
  // Stored as the owner of what it registers; empty for an anonymous caller.
  virtual std::string_view identity() const = 0;
  // OK, or PERMISSION_DENIED (UNAUTHENTICATED for an anonymous caller)
  // naming the caller, the action and the service. `owner`: the identity
  // that registered the instance the action touches (empty: registered
  // without one), nothing when there is no instance yet.
  virtual absl::Status MayWrite(WriteAction action, std::string_view service,
                                std::optional<std::string_view> owner) const = 0;
};

// Kept by a cluster write until etcd answers, so shared.
using AccessRef = std::shared_ptr<const Access>;

// The check where there is one: no Access allows everything.
inline absl::Status CheckWrite(const Access* access, WriteAction action, std::string_view service,
                               std::optional<std::string_view> owner) {
  if (access == nullptr) return absl::OkStatus();
  return access->MayWrite(action, service, owner);
}

}  // namespace registryd
