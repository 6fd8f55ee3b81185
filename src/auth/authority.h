// The policy and token files as registryd runs with them: loaded at the
// start, loaded again on SIGHUP (a broken file keeps what was loaded, and
// the reload says why), and read by every queue thread.
//
// Threads resolve callers through their own caches (server/queue/caller_cache.h),
// which look at generation() on each call and take a new Snapshot only when
// it moved: the files are never parsed on a call's path.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "auth/caller.h"
#include "auth/policy.h"
#include "auth/tokens.h"

namespace registryd::auth {

struct AuthFiles {
  std::string policy;  // --authz-policy
  std::string tokens;  // --auth-tokens; empty: no bearer token is valid
  std::string audit_log;  // --audit-log; empty: none (reopened, not reloaded, on SIGHUP)
};

class Authority {
 public:
  struct Snapshot {
    std::shared_ptr<const Policy> policy;
    std::shared_ptr<const TokenTable> tokens;
    uint64_t generation = 0;
    AuditLog* audit = nullptr;
    // The caller `identity` names under this policy (empty: anonymous).
    CallerRef CallerFor(std::string identity) const;
  };

  // Both files parsed, or the first error (naming file:line:column).
  static absl::StatusOr<std::unique_ptr<Authority>> Load(AuthFiles files);

  // Parses both files again; on an error keeps the current ones and returns it.
  absl::Status Reload();
  // Starts a new --audit-log file at its path (after logrotate renamed it);
  // OK without one.
  absl::Status ReopenAuditLog();
  std::shared_ptr<const Snapshot> Current() const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // "policy FILE: N rules; tokens FILE: M tokens", for the start line and reloads.
  std::string Describe() const;
  const AuthFiles& files() const { return files_; }

 private:
  explicit Authority(AuthFiles files) : files_(std::move(files)) {}
  absl::StatusOr<std::shared_ptr<const Snapshot>> Parse(uint64_t generation) const;

  const AuthFiles files_;
  std::unique_ptr<AuditLog> audit_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> current_;  // guarded by mu_
  std::atomic<uint64_t> generation_{0};
};

// An authority's Describe(), or what no policy means.
std::string Describe(const Authority* authority);

}  // namespace registryd::auth
