// A stream's caller under the policy of the moment. A stream outlives policy
// reloads (SIGHUP), and its caller (the stream's metadata and connection)
// must be checked again under each new policy: this remembers the policy
// generation the caller was last resolved under, for KeepAlive, Watch and
// ADS alike.
#pragma once

#include <cstdint>

#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "server/queue/caller_cache.h"
#include "server/queue/serving_queue.h"

namespace registryd {

class StreamCaller {
 public:
  // The stream's caller, resolved again when the policy moved since the last
  // call (the first call always resolves); null when there is no policy or it
  // has not moved, so that there is nothing to check again.
  absl::StatusOr<const auth::CallerRef*> ResolveIfReloaded(ServingQueue& queue, grpc::ServerContextBase& context) {
    CallerCache* callers = queue.callers();
    if (callers == nullptr || callers->generation() == generation_) return nullptr;
    generation_ = callers->generation();
    return callers->Resolve(context);
  }

 private:
  uint64_t generation_ = 0;  // of the policy last resolved under (0: never; a loaded policy's is 1 on)
};

}  // namespace registryd
