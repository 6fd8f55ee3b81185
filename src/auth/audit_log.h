// --audit-log: every change a caller makes or is refused (register,
// deregister, eject), one JSON object per line: time, identity, action,
// service, instance, result. Appended and flushed line by line, so that a
// crash loses nothing written; a change is written after it was answered
// by the registry, off the heartbeat path (renewals are not changes).
#pragma once

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace registryd::auth {

class AuditLog {
 public:
  // Opens `path` for appending (created when missing).
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // `result`: "ok", or the refusal's code name (PERMISSION_DENIED, ...).
  void Write(std::string_view identity, std::string_view action, std::string_view service,
             std::string_view instance, const absl::Status& result);

 private:
  explicit AuditLog(std::FILE* file) : file_(file) {}
  std::mutex mu_;
  std::FILE* const file_;
};

}  // namespace registryd::auth
