// A session's value in etcd (cluster.proto's StoredSession), to and from the
// registry's ReplicatedSession. The store keeps a digest of the token, not
// the token: whoever reads etcd cannot resume a session.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/session_table.h"

namespace registryd::cluster {

// What the store and every node's session table keep of a token: SHA-256,
// truncated to the token's size.
SessionToken TokenDigest(const SessionToken& token);

// `holder`: the name of the node that keeps the session (state.holder is ignored).
std::string EncodeSession(const ReplicatedSession& state, std::string_view holder);

struct DecodedSession {
  ReplicatedSession state;  // holder and stored_revision not set
  std::string holder;
};
// Nothing when the value is not a well-formed session.
std::optional<DecodedSession> DecodeSession(std::string_view value);

}  // namespace registryd::cluster
