#include "bench/authz_policy.h"

#include <fstream>
#include <stdexcept>

#include <fmt/core.h>
#include <openssl/sha.h>

namespace registryd::bench {
namespace {

std::string Sha256Hex(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  std::string hex;
  for (const unsigned char byte : digest) hex += fmt::format("{:02x}", byte);
  return hex;
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream file(path);
  file << text;
  if (!file) throw std::runtime_error("cannot write " + path);
}

std::string& Authorization() {
  static std::string value;
  return value;
}

}  // namespace

const std::string& CallAuthorization() { return Authorization(); }
void SetCallAuthorization(std::string value) { Authorization() = std::move(value); }

AuthzFiles::AuthzFiles(const std::string& prefix) : directory(prefix) {
  policy = directory.path() + "/policy.txt";
  tokens = directory.path() + "/tokens.txt";
  token = "bench-load-token-0123456789abcdef";
  const std::string bench = "spiffe://bench/ns/load/sa/generator";
  std::string text;
  int rules = 0;
  // The bench identity's own rules: exact names and prefixes that miss, then
  // the prefix its services ("bench-N") match, then a read rule.
  for (int i = 0; i < 6; ++i, ++rules) {
    text += fmt::format("rule {{ identity: \"{}\" service: \"other-{}\" permission: REGISTER }}\n", bench, i);
  }
  for (int i = 0; i < 5; ++i, ++rules) {
    text += fmt::format("rule {{ identity: \"{}\" service: \"team{}-*\" permission: REGISTER }}\n", bench, i);
  }
  text += fmt::format("rule {{ identity: \"{}\" service: \"bench-*\" permission: REGISTER }}\n", bench);
  text += fmt::format("rule {{ identity: \"{}\" service: \"bench-*\" permission: READ }}\n", bench);
  rules += 2;
  // Everyone else's.
  for (int i = 0; rules < kAuthzRules; ++i, ++rules) {
    text += i % 3 == 0 ? fmt::format("rule {{ identity: \"spiffe://prod/ns/team{}/*\" service: \"team{}-*\" "
                                     "permission: REGISTER }}\n",
                                     i, i)
                       : fmt::format("rule {{ identity: \"spiffe://prod/ns/team{}/sa/svc{}\" service: \"svc-{}\" "
                                     "permission: [REGISTER, READ] }}\n",
                                     i, i, i);
  }
  Write(policy, text);
  Write(tokens, fmt::format("token {{ sha256: \"{}\" identity: \"{}\" }}\n", Sha256Hex(token), bench));
}

}  // namespace registryd::bench
