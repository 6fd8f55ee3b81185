#include "server/queue/caller_cache.h"

#include <vector>

#include <grpc/grpc_security_constants.h>
#include <openssl/crypto.h>

#include "auth/certificate_identity.h"
#include "auth/identity.h"

#include "core/log.h"

namespace registryd {
namespace {

std::vector<std::string_view> PropertyValues(grpc_auth_context* connection, const char* name) {
  std::vector<std::string_view> values;
  grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(connection, name);
  while (const grpc_auth_property* property = grpc_auth_property_iterator_next(&it)) {
    values.emplace_back(property->value, property->value_length);
  }
  return values;
}

std::string CertificateIdentity(grpc_auth_context* connection) {
  if (connection == nullptr) return {};
  const std::vector<std::string_view> common_names = PropertyValues(connection, GRPC_X509_CN_PROPERTY_NAME);
  return auth::IdentityOfCertificate(PropertyValues(connection, GRPC_PEER_URI_PROPERTY_NAME),
                                     PropertyValues(connection, GRPC_PEER_DNS_PROPERTY_NAME),
                                     common_names.empty() ? std::string_view() : common_names.front());
}

bool SameToken(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

CallerCache::~CallerCache() { Clear(); }

void CallerCache::Clear() {
  for (auto& [connection, entry] : entries_) grpc_auth_context_release(connection);
  entries_.clear();
}

absl::StatusOr<auth::CallerRef> CallerCache::Identify(grpc_auth_context* connection, std::string_view token,
                                                      bool& from_certificate) {
  std::string identity = CertificateIdentity(connection);
  from_certificate = !identity.empty();
  if (absl::Status usable = auth::CheckIdentity(identity, auth::kCertificateName); !usable.ok()) {
    log::Warn("refused: {}", std::string(usable.message()));
    return absl::UnauthenticatedError(usable.message());
  }
  if (identity.empty() && !token.empty()) {
    const std::optional<std::string_view> named = snapshot_->tokens->IdentityOf(token);
    if (!named) return auth::UnknownTokenRefusal();
    identity = std::string(*named);
  }
  return snapshot_->CallerFor(std::move(identity));
}

absl::StatusOr<const auth::CallerRef*> CallerCache::Resolve(grpc::ServerContextBase& context) {
  const uint64_t generation = authority_.generation();
  if (snapshot_ == nullptr || snapshot_->generation != generation) {
    snapshot_ = authority_.Current();
    Clear();
  }
  const auto token_of_call = [&]() -> std::string_view {
    if (snapshot_->tokens->size() == 0) return {};
    const auto& metadata = context.client_metadata();
    const auto it = metadata.find("authorization");
    return it == metadata.end() ? std::string_view()
                                : auth::BearerToken(std::string_view(it->second.data(), it->second.size()));
  };
  grpc_auth_context* connection = grpc_call_auth_context(context.c_call());
  Entry* entry = &uncached_;
  std::string_view token;
  if (connection != nullptr) {
    const auto [it, inserted] = entries_.try_emplace(connection);
    if (!inserted) grpc_auth_context_release(connection);  // the entry holds one reference already
    entry = &it->second;
    if (!inserted && entry->caller != nullptr && entry->generation == snapshot_->generation) {
      // A certificate's identity is the connection's: its calls' metadata is not read.
      if (entry->from_certificate) return &entry->caller;
      token = token_of_call();
      if (SameToken(entry->token, token)) return &entry->caller;
    } else {
      token = token_of_call();
    }
  } else {
    token = token_of_call();
  }
  absl::StatusOr<auth::CallerRef> caller = Identify(connection, token, entry->from_certificate);
  if (!caller.ok()) {
    entry->caller = nullptr;
    return caller.status();
  }
  entry->generation = snapshot_->generation;
  entry->token = std::string(token);
  entry->caller = *std::move(caller);
  const auth::CallerRef* resolved = &entry->caller;
  if (entries_.size() > kMaxEntries) {
    uncached_ = std::move(*entry);
    Clear();
    resolved = &uncached_.caller;
  }
  return resolved;
}

}  // namespace registryd
