// --auth-tokens: bearer tokens and the identity each stands for, read from a
// protobuf text file (TokenFile in policy.proto) that holds only the tokens'
// SHA-256, never the tokens:
//
//   token { sha256: "<64 hex digits>" identity: "deployer" }
//
// where the hash is `printf %s "$TOKEN" | sha256sum`. A presented token is
// hashed and compared with every stored hash in constant time, so neither
// the time nor the memory touched says which hash, or how much of one,
// matched.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace registryd::auth {

// Each lookup compares with every hash: the bound keeps that cheap.
inline constexpr size_t kMaxTokens = 10'000;

// The token of an `authorization: Bearer <token>` header or metadata value
// (the scheme in any case); empty without one.
std::string_view BearerToken(std::string_view authorization);

// A client's own token, from a file that holds it alone (a trailing newline
// is fine), so that it never shows on a command line: `flag` names the
// option in errors (registryctl's --token-file, a node's --peer-token-file).
absl::StatusOr<std::string> ReadBearerTokenFile(std::string_view flag, const std::string& path);

class TokenTable {
 public:
  TokenTable() = default;  // no token is valid

  // INVALID_ARGUMENT "file:line:column: what is wrong" for the first error:
  // a hash that is not 64 hex digits or is there twice, an identity that is
  // empty or longer than kMaxIdentityBytes.
  static absl::StatusOr<TokenTable> Parse(std::string_view text, std::string_view file_name);

  // The identity `token` stands for; valid while this table lives.
  std::optional<std::string_view> IdentityOf(std::string_view token) const;

  size_t size() const { return entries_.size(); }

 private:
  using Sha256 = std::array<unsigned char, 32>;
  struct Entry {
    Sha256 sha256;
    std::string identity;
  };

  static std::optional<Sha256> HashOf(std::string_view token);

  std::vector<Entry> entries_;
};

}  // namespace registryd::auth
