// --audit-log: every change a caller makes or is refused (register,
// deregister, eject), one JSON object per line: time, identity, action,
// service, instance, result. Appended and flushed line by line, so that a
// crash loses nothing written; a change is written after it was answered
// by the registry, off the heartbeat path (renewals are not changes).
// Reopen() (on SIGHUP) starts a new file at the same path, for logrotate's
// rename-then-HUP: every line goes to the old file or to the new one.
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
  // Opens the path again (created when missing) and writes there from now
  // on; on an error keeps writing to the file it has.
  absl::Status Reopen();

 private:
  AuditLog(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  static absl::StatusOr<std::FILE*> OpenFile(const std::string& path);

  const std::string path_;
  std::mutex mu_;
  std::FILE* file_;  // guarded by mu_
};

}  // namespace registryd::auth
