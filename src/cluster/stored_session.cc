#include "cluster/stored_session.h"

#include <openssl/sha.h>

#include <algorithm>
#include <chrono>

#include "registryd/cluster.pb.h"
#include "core/limits.h"

namespace registryd::cluster {
namespace {

uint32_t Millis(Duration duration) {
  return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(duration).count());
}

}  // namespace

SessionToken TokenDigest(const SessionToken& token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(token.data(), token.size(), digest);
  SessionToken truncated;
  std::copy_n(digest, truncated.size(), truncated.begin());
  return truncated;
}

std::string EncodeSession(const ReplicatedSession& state, std::string_view holder) {
  StoredSession stored;
  stored.set_session_id(state.id);
  stored.set_ttl_ms(Millis(state.ttl));
  stored.set_grace_ms(Millis(state.grace));
  stored.set_token_digest(std::string(reinterpret_cast<const char*>(state.token.data()), state.token.size()));
  stored.set_owner(state.owner);
  stored.set_holder(std::string(holder));
  stored.set_ended(state.ended);
  stored.set_end_reason(static_cast<uint32_t>(state.end_reason));
  return stored.SerializeAsString();
}

std::optional<DecodedSession> DecodeSession(std::string_view value) {
  StoredSession stored;
  if (!stored.ParseFromArray(value.data(), static_cast<int>(value.size()))) return std::nullopt;
  DecodedSession decoded;
  ReplicatedSession& state = decoded.state;
  if (stored.session_id() == kNoSession || stored.ttl_ms() == 0 || stored.grace_ms() > stored.ttl_ms() ||
      stored.token_digest().size() != state.token.size() || stored.holder().empty() ||
      stored.owner().size() > limits::kMaxIdentityBytes ||
      stored.end_reason() > static_cast<uint32_t>(RemovalReason::kEjected)) {
    return std::nullopt;
  }
  state.id = stored.session_id();
  state.ttl = std::chrono::milliseconds(stored.ttl_ms());
  state.grace = std::chrono::milliseconds(stored.grace_ms());
  std::copy(stored.token_digest().begin(), stored.token_digest().end(), state.token.begin());
  state.owner = stored.owner();
  state.ended = stored.ended();
  state.end_reason = static_cast<RemovalReason>(stored.end_reason());
  decoded.holder = stored.holder();
  return decoded;
}

}  // namespace registryd::cluster
