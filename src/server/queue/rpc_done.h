// How a writing RPC's Handle answers (UnaryCall, Rpc::kWrites): once, with
// the call's status, after filling the reply; on any thread.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/functional/any_invocable.h"

namespace registryd {

using RpcDone = absl::AnyInvocable<void(grpc::Status) &&>;

}  // namespace registryd
