// How keep and keep --session wait out a registry that does not answer: a
// failure a retry may cure (the registry down, restarting, or slow) is
// reported once per outage and tried again after a backoff that doubles up
// to 5 s; any other failure ends the command.
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include <fmt/core.h>
#include <grpcpp/support/status.h>

#include "tools/registryctl/commands.h"
#include "tools/registryctl/output.h"
#include "tools/registryctl/watchdog.h"

namespace registryd::ctl {

inline constexpr auto kFirstBackoff = std::chrono::milliseconds(200);

class OutageRetry {
 public:
  // `command` names the command in the retry line; `what` the failed step.
  OutageRetry(const Connection& connection, std::string command, std::string what)
      : connection_(connection), command_(std::move(command)), what_(std::move(what)) {}

  // After a failed attempt: nothing when it may be tried again (after the
  // backoff, or at once once the watchdog is stopped), else the exit code.
  std::optional<int> Failed(const grpc::Status& status, Watchdog& watchdog) {
    if (!Retryable(status)) return ctl::Failed(connection_, what_, status);
    if (!reported_) {
      ctl::Failed(connection_, what_, status);
      fmt::print(stderr, "registryctl: {}: retrying until the registry answers\n", command_);
      reported_ = true;
    }
    watchdog.WaitFor(backoff_);
    backoff_ = std::min<Clock::duration>(backoff_ * 2, kMaxBackoff);
    return std::nullopt;
  }

  // After an attempt that worked: the next outage is reported again, and
  // waited for from the first backoff.
  void Succeeded() {
    backoff_ = kFirstBackoff;
    reported_ = false;
  }

 private:
  static constexpr auto kMaxBackoff = std::chrono::seconds(5);

  static bool Retryable(const grpc::Status& status) {
    return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
           status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
           status.error_code() == grpc::StatusCode::CANCELLED;
  }

  const Connection& connection_;
  const std::string command_;
  const std::string what_;
  Clock::duration backoff_ = kFirstBackoff;
  bool reported_ = false;
};

}  // namespace registryd::ctl
