// The names the DNS face answers, under its domain (--dns-domain):
//   <service>.service.<domain>          the service: SRV, A, AAAA
//   _<service>._tcp.service.<domain>    the same, in RFC 2782's form (SRV)
//   <instance>.<service>.instance.<domain>  one instance: A, AAAA, TXT
//   <domain>, service.<domain>, instance.<domain>, _<service>._tcp.service.<domain>'s
//     parent: they exist and hold no records but the apex's SOA
// Labels compare case-insensitively (a query's are lowered), so only a
// service or instance id that is a lower-case DNS label can be named: 1 to 63
// of a-z, 0-9 and '-', not starting or ending with '-'.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace registryd::dns {

enum class NameKind {
  kOutside,   // not under the domain: REFUSED, there is no recursion
  kUnknown,   // under the domain, not a name of the registry's: NXDOMAIN
  kEmpty,     // exists without records of its own (the apex, service., instance.)
  kApex,      // the domain itself: its SOA
  kService,   // service set
  kInstance,  // service and instance set
};

struct QueryName {
  NameKind kind = NameKind::kUnknown;
  std::string service;
  std::string instance;
};

// `domain`: absolute and lower-case ("registryd."), as NormalizeDomain makes it.
// `name`: a query's name in presentation form, absolute ("Orders.Service.registryd.").
QueryName ParseQueryName(std::string_view name, std::string_view domain);

bool IsDnsLabel(std::string_view text);

// `c`, or `text`, with A-Z lowered (DNS compares names case-insensitively).
inline char LowerCase(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
std::string LowerCase(std::string_view text);

// "registryd" or "Registryd." -> "registryd."; nullopt when a label is not
// a DNS label (the root, ".", is not a domain the face can serve).
std::optional<std::string> NormalizeDomain(std::string_view domain);

}  // namespace registryd::dns
