// The DNS face's answers (README, DNS): one query in wire format, one
// answer, parsed and built with ldns. The registry is read as the balancing
// faces read it (core/balanced_members.h); each answerer keeps the members
// of the services it was asked about and the answers it built, by the
// service's revision (answer_cache.h), so a query for an unchanged service
// takes its shard's lock only to read that revision, and serializes
// nothing. One answerer per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "auth/authority.h"
#include "core/balanced_members.h"
#include "core/clock.h"
#include "core/registry.h"
#include "dns/answer_cache.h"
#include "dns/plain_question.h"

namespace registryd::dns {

// The largest UDP answer sent whatever the client's EDNS0 size says, and the
// size advertised in our own OPT record (the DNS flag day 2020's value).
inline constexpr uint16_t kMaxUdpAnswer = 1232;
// A TCP answer is complete up to the DNS message limit.
inline constexpr size_t kMaxTcpAnswer = 65535;

struct DnsOptions {
  std::string listen = "127.0.0.1:8600";  // empty: no DNS face
  std::string domain = "registryd.";      // absolute, lower-case (NormalizeDomain)
  Duration ttl{0};                        // of every record, and the SOA minimum (negative answers)
};

class DnsAnswerer {
 public:
  // `authority`: the policy (--authz-policy), or null. DNS has no identity:
  // under a policy it answers for the services anonymous callers may read,
  // and REFUSED for the others.
  DnsAnswerer(Registry& registry, const DnsOptions& options, const auth::Authority* authority = nullptr);

  // The answer to `query`, or empty to send none (not even a header to
  // read, or a response rather than a query). Over UDP it fits 512 bytes,
  // or the EDNS0 size the query advertised (at most kMaxUdpAnswer):
  // whole records only, TC set when some did not fit.
  std::string Answer(std::span<const uint8_t> query, bool over_tcp);

  // Messages it serialized so far (a cached answer is none).
  uint64_t serialized() const { return serialized_; }

 private:
  // The service's members, read again only when its revision moved.
  const BalancedMembers& Members(const std::string& service);
  // Whether an anonymous caller may read `service` under the policy now.
  bool MayRead(const std::string& service);
  std::string Respond(std::span<const uint8_t> query, bool over_tcp);
  // The cached answer to a plain query (plain_question.h), if there is one:
  // the common case, answered without ldns.
  std::optional<std::string> FromCache(const PlainQuestion& question, std::span<const uint8_t> query,
                                       bool over_tcp);
  // Where the next answer of `records` records starts (clients that take
  // the first record spread their load); Rotate() moves on to the one after.
  uint32_t NextRotation(size_t records) const;
  void Rotate() { ++rotation_; }
  // Counts the query by the type it asked and its answer (/metrics).
  void Count(const std::string& answer, bool over_tcp);

  Registry& registry_;
  const DnsOptions options_;
  const auth::Authority* const authority_;
  auth::CallerRef anonymous_;  // under the policy of generation anonymous_generation_
  uint64_t anonymous_generation_ = 0;
  const uint32_t ttl_seconds_;
  uint64_t rotation_ = 0;  // where the next answer's records start
  uint16_t asked_type_ = 0;  // of the query being answered (0: none read)
  absl::flat_hash_map<std::string, BalancedMembers> members_;
  AnswerCache cache_;
  uint64_t serialized_ = 0;
};

}  // namespace registryd::dns
