// What one KeepAlive stream of registryd does with its requests: renews each
// lease, and, when its first request sets bind_to_stream, holds the leases
// it renewed so that they go when the stream ends. The stream's state
// machine is KeepAliveCall.
#pragma once

#include <optional>

#include "absl/container/flat_hash_set.h"
#include "auth/caller.h"
#include "core/lease_bindings.h"
#include "core/registry.h"
#include "core/registry_writer.h"
#include "registry/v1/registry.pb.h"

namespace registryd {

// What KeepAlive streams work on, shared by every queue.
struct KeepAliveBackend {
  RegistryWriter& writer;
  LeaseBindings& bindings;
};

class StreamLeases {
 public:
  // A stream may hold at most this many bound leases.
  static constexpr size_t kMaxBoundLeases = 10'000;
  // Leases one request may renew besides its lease_id (lease_ids).
  static constexpr int kMaxLeasesPerRequest = 1000;

  explicit StreamLeases(KeepAliveBackend& backend) : backend_(backend) {}

  // Under a policy: the stream's caller, resolved when it started; every
  // renewal and release is checked against it.
  void set_caller(const auth::CallerRef& caller) {
    if (caller_ != caller) caller_ = caller;  // the same one, request after request: no count to touch
  }
  registry::v1::KeepAliveResponse Renew(const registry::v1::KeepAliveRequest& request);
  // The stream ended: removes the leases bound to it (if it binds).
  void Release();

 private:
  // Renews one lease into `result` (the response, or one of its results).
  template <typename Result>
  void RenewOne(LeaseId lease, bool overloaded, Result& result);

  KeepAliveBackend& backend_;
  auth::CallerRef caller_;
  bool first_request_ = true;
  std::optional<StreamId> bound_stream_;  // set when the stream binds its leases
  absl::flat_hash_set<LeaseId> bound_leases_;
};

}  // namespace registryd
