#include "flags/dns_flags.h"

#include <fmt/core.h>

#include "dns/dns_name.h"

namespace registryd::flags {

void DnsFlags::AddTo(CLI::App& app) {
  CLI::App& group = *app.add_option_group("DNS face", "Programs that only resolve names find services: SRV, A, AAAA");
  group.add_option("--dns-listen", listen,
                   "DNS face, UDP and TCP (host:port; port 0 picks a free one; empty: off): "
                   "<service>.service.<domain> answers SRV, A and AAAA of its live instances")
      ->capture_default_str();
  group.add_option("--dns-domain", domain, "The domain the DNS face answers for; other names get REFUSED")
      ->capture_default_str();
  AddDuration(group, "--dns-ttl", ttl,
              "TTL of the DNS face's records, and how long resolvers may remember a name that does not exist "
              "(0s: caches must not outlive a lease)",
              Duration::zero(), std::chrono::hours(24));
}

absl::StatusOr<dns::DnsOptions> DnsFlags::Options() const {
  dns::DnsOptions options;
  options.listen = listen;
  std::optional<std::string> normalized = dns::NormalizeDomain(domain);
  if (!normalized) {
    return absl::InvalidArgumentError(fmt::format(
        "--dns-domain: '{}' is not a domain of DNS labels (a-z, 0-9 and '-', 1 to 63 each)", domain));
  }
  options.domain = *std::move(normalized);
  options.ttl = ttl.value;
  return options;
}

}  // namespace registryd::flags
