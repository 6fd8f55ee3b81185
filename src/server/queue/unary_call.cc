#include "server/queue/unary_call.h"

#include "absl/status/status.h"
#include "core/log.h"

namespace registryd {

void LogFailedCall(std::string_view method, const grpc::ServerContext& context,
                   const grpc::Status& status) {
  // NOT_FOUND is routine (a heartbeat after expiry): keep it out of the
  // operator's view unless asked; a refusal was logged where it was made,
  // with who and what (auth/caller.h); the rest point at a misbehaving client.
  const grpc::StatusCode status_code = status.error_code();
  const bool routine = status_code == grpc::StatusCode::NOT_FOUND ||
                       status_code == grpc::StatusCode::PERMISSION_DENIED ||
                       status_code == grpc::StatusCode::UNAUTHENTICATED;
  if (!log::Enabled(routine ? log::Level::kDebug : log::Level::kWarn)) return;
  const std::string peer = context.peer();
  const std::string code = absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
  log::Fields(routine ? log::Level::kDebug : log::Level::kWarn,
              {{"method", method}, {"peer", peer}, {"code", code}}, "{} failed: {} {}", method, code,
              status.error_message());
}

}  // namespace registryd
