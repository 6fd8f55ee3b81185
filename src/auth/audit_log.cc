#include "auth/audit_log.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <fmt/chrono.h>
#include <fmt/core.h>

#include "core/json_text.h"

namespace registryd::auth {

absl::StatusOr<std::FILE*> AuditLog::OpenFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "ae");
  if (file == nullptr) {
    return absl::InvalidArgumentError(fmt::format("--audit-log {}: {}", path, std::strerror(errno)));
  }
  return file;
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  absl::StatusOr<std::FILE*> file = OpenFile(path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<AuditLog>(new AuditLog(path, *file));
}

AuditLog::~AuditLog() { std::fclose(file_); }

absl::Status AuditLog::Reopen() {
  absl::StatusOr<std::FILE*> file = OpenFile(path_);
  if (!file.ok()) return file.status();
  std::FILE* old = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = std::exchange(file_, *file);
  }
  std::fclose(old);
  return absl::OkStatus();
}

void AuditLog::Write(std::string_view identity, std::string_view action, std::string_view service,
                     std::string_view instance, const absl::Status& result) {
  const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  const std::string outcome = result.ok() ? "ok" : absl::StatusCodeToString(result.code());
  const std::string line =
      fmt::format("{{\"time\":\"{:%Y-%m-%dT%H:%M:%S}Z\",\"identity\":{},\"action\":{},\"service\":{},"
                  "\"instance\":{},\"result\":{}}}\n",
                  now, JsonString(identity), JsonString(action), JsonString(service), JsonString(instance),
                  JsonString(outcome));
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

}  // namespace registryd::auth
