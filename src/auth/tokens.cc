#include "auth/tokens.h"

#include <strings.h>

#include <cctype>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fmt/format.h>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "auth/identity.h"
#include "core/read_file.h"
#include "registryd/policy.pb.h"
#include "auth/text_file.h"

namespace registryd::auth {
namespace {

using google::protobuf::FieldDescriptor;

const FieldDescriptor* TokensField() { return TokenFile::descriptor()->FindFieldByNumber(TokenFile::kTokenFieldNumber); }
const FieldDescriptor* FieldOfToken(int number) { return TokenEntry::descriptor()->FindFieldByNumber(number); }

int HexValue(char digit) {
  if (digit >= '0' && digit <= '9') return digit - '0';
  if (digit >= 'a' && digit <= 'f') return digit - 'a' + 10;
  if (digit >= 'A' && digit <= 'F') return digit - 'A' + 10;
  return -1;
}

// sha256sum's 64 hex digits (either case) into `digest`.
absl::Status ParseHex(std::string_view hex, absl::Span<unsigned char> digest) {
  if (hex.size() != 2 * digest.size()) {
    return absl::InvalidArgumentError(fmt::format(
        "sha256 must be {} hex digits, as sha256sum prints them (got {} characters)", 2 * digest.size(), hex.size()));
  }
  for (size_t i = 0; i < hex.size(); ++i) {
    if (HexValue(hex[i]) < 0) {
      return absl::InvalidArgumentError(
          fmt::format("sha256 must be {} hex digits: character {} ({:?}) is not one", hex.size(), i + 1, hex[i]));
    }
  }
  for (size_t i = 0; i < digest.size(); ++i) {
    digest[i] = static_cast<unsigned char>(HexValue(hex[2 * i]) << 4 | HexValue(hex[2 * i + 1]));
  }
  return absl::OkStatus();
}

absl::Status ValidateIdentity(std::string_view identity) {
  if (identity.empty()) return absl::InvalidArgumentError("identity is empty: say whom the token stands for");
  return CheckIdentity(identity, "identity");
}

}  // namespace

absl::StatusOr<std::string> ReadBearerTokenFile(std::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return absl::Status(text.status().code(), fmt::format("{}: {}", flag, std::string(text.status().message())));
  std::string token = *std::move(text);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.empty()) return absl::InvalidArgumentError(fmt::format("{}: {} is empty", flag, path));
  for (const char c : token) {
    if (std::iscntrl(static_cast<unsigned char>(c)) || c == ' ') {
      return absl::InvalidArgumentError(
          fmt::format("{}: {} holds more than one token (a space or a control character)", flag, path));
    }
  }
  return token;
}

std::string_view BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size() ||
      strncasecmp(authorization.data(), kScheme.data(), kScheme.size()) != 0) {
    return {};
  }
  return authorization.substr(kScheme.size());
}

std::optional<TokenTable::Sha256> TokenTable::HashOf(std::string_view token) {
  Sha256 digest;
  unsigned int length = 0;
  if (EVP_Digest(token.data(), token.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != digest.size()) {
    return std::nullopt;
  }
  return digest;
}

absl::StatusOr<TokenTable> TokenTable::Parse(std::string_view text, std::string_view file_name) {
  TokenFile file;
  FieldLocations locations;
  if (absl::Status status = ParseTextFile(text, file_name, file, locations); !status.ok()) return status;
  if (file.token_size() > static_cast<int>(kMaxTokens)) {
    return ErrorAt(file_name, LocationOf(&locations, TokensField(), kMaxTokens),
                   fmt::format("too many tokens: a token file has at most {}", kMaxTokens));
  }

  const std::optional<Sha256> empty_token = HashOf("");
  TokenTable table;
  table.entries_.reserve(file.token_size());
  absl::flat_hash_map<Sha256, int> first_line_of;  // by hash, while parsing only
  for (int i = 0; i < file.token_size(); ++i) {
    const TokenEntry& written = file.token(i);
    const TextLocation token_location = LocationOf(&locations, TokensField(), i);
    const FieldLocations* fields = locations.GetTreeForNested(TokensField(), i);
    const auto error_at = [&](int number, std::string_view what) {
      return ErrorAt(file_name, LocationOf(fields, FieldOfToken(number), -1, token_location), what);
    };

    Sha256 sha256;
    if (absl::Status status = ParseHex(written.sha256(), absl::MakeSpan(sha256)); !status.ok()) {
      return error_at(TokenEntry::kSha256FieldNumber, std::string(status.message()));
    }
    if (sha256 == empty_token) {
      return error_at(TokenEntry::kSha256FieldNumber, "sha256 is the hash of the empty token: a token must not be empty");
    }
    const auto [first, inserted] = first_line_of.try_emplace(sha256, token_location.line + 1);
    if (!inserted) {
      return error_at(TokenEntry::kSha256FieldNumber,
                      fmt::format("the same sha256 as the token at line {}: each token stands for one identity",
                                  first->second));
    }
    if (absl::Status status = ValidateIdentity(written.identity()); !status.ok()) {
      return error_at(TokenEntry::kIdentityFieldNumber, std::string(status.message()));
    }
    table.entries_.push_back(Entry{sha256, written.identity()});
  }
  return table;
}

std::optional<std::string_view> TokenTable::IdentityOf(std::string_view token) const {
  const std::optional<Sha256> presented = HashOf(token);
  if (!presented) return std::nullopt;
  // Every hash is compared, in constant time, with no early exit: hashes are
  // unique, so at most one matches.
  size_t found = entries_.size();
  for (size_t i = 0; i < entries_.size(); ++i) {
    const bool same = CRYPTO_memcmp(presented->data(), entries_[i].sha256.data(), presented->size()) == 0;
    found = same ? i : found;
  }
  if (found == entries_.size()) return std::nullopt;
  return entries_[found].identity;
}

}  // namespace registryd::auth
