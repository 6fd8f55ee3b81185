// Who is calling, resolved once per connection on each queue thread: the
// identity from the connection's verified client certificate (mutual TLS),
// else from a bearer token in the call's `authorization` metadata, else
// none (anonymous), and the policy's grants for it.
//
// gRPC gives every connection one auth context, shared by its calls; the
// cache keys its entries by that context and holds a reference to it, so an
// entry can never be taken for a later connection's. An entry is used while
// the policy's generation and the call's token are the ones it was made
// for; a token is compared in constant time. When the certificate names an
// identity, a token is not looked at: the certificate wins.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <grpc/grpc_security.h>
#include <grpcpp/server_context.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "auth/authority.h"
#include "auth/caller.h"

namespace registryd {

class CallerCache {
 public:
  explicit CallerCache(const auth::Authority& authority) : authority_(authority) {}
  ~CallerCache();
  CallerCache(const CallerCache&) = delete;
  CallerCache& operator=(const CallerCache&) = delete;

  // The call's caller; UNAUTHENTICATED for a bearer token the token file
  // does not hold. Valid until the next Resolve on this cache.
  absl::StatusOr<const auth::CallerRef*> Resolve(grpc::ServerContextBase& context);
  // The policy's generation now: a stream's caller (its metadata is the
  // stream's) needs resolving again only when it moved.
  uint64_t generation() const { return authority_.generation(); }

 private:
  struct Entry {
    uint64_t generation = 0;
    std::string token;  // the bearer token it was resolved with; empty: none
    bool from_certificate = false;
    auth::CallerRef caller;
  };
  // Connections come and go: past this many entries, start afresh.
  static constexpr size_t kMaxEntries = 4096;

  absl::StatusOr<auth::CallerRef> Identify(grpc_auth_context* connection, std::string_view token,
                                           bool& from_certificate);
  void Clear();

  const auth::Authority& authority_;
  std::shared_ptr<const auth::Authority::Snapshot> snapshot_;
  absl::flat_hash_map<grpc_auth_context*, Entry> entries_;  // each holds a reference to its key
  Entry uncached_;  // a call without an auth context
};

}  // namespace registryd
