// absl::Status (the core's) to grpc::Status (the wire's): the codes share
// their numbering, so this is a cast, not a table.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace registryd {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace registryd
