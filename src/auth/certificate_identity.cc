#include "auth/certificate_identity.h"

namespace registryd::auth {

std::string IdentityOfCertificate(absl::Span<const std::string_view> uri_sans,
                                  absl::Span<const std::string_view> dns_sans, std::string_view common_name) {
  if (!uri_sans.empty()) return std::string(uri_sans.front());
  if (!dns_sans.empty()) return std::string(dns_sans.front());
  return std::string(common_name);
}

}  // namespace registryd::auth
