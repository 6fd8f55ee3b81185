#include "server/unary_call.h"

#include "absl/status/status.h"
#include "core/log.h"

namespace registryd {

void LogFailedCall(std::string_view method, const grpc::ServerContext& context,
                   const grpc::Status& status) {
  // NOT_FOUND is routine (a heartbeat after expiry): keep it out of the
  // operator's view unless asked; the rest point at a misbehaving client.
  const bool routine = status.error_code() == grpc::StatusCode::NOT_FOUND;
  if (!log::Enabled(routine ? log::Level::kDebug : log::Level::kWarn)) return;
  const std::string peer = context.peer();
  const std::string code = absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
  log::Fields(routine ? log::Level::kDebug : log::Level::kWarn,
              {{"method", method}, {"peer", peer}, {"code", code}}, "{} failed: {} {}", method, code,
              status.error_message());
}

}  // namespace registryd
