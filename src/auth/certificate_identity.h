// Who a client is under mTLS, from its verified certificate: the first URI
// SAN (where SPIFFE IDs such as spiffe://prod/ns/shop/sa/orders live), else
// the first DNS SAN, else the subject's common name, else nobody (empty: an
// anonymous caller). The first of a kind wins so that adding a SAN of a
// lower kind never changes who a certificate names.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

struct x509_st;  // OpenSSL's X509

namespace registryd::auth {

// What refusals call the name a certificate's identity came from.
inline constexpr std::string_view kCertificateName = "the client certificate's name (URI SAN, DNS SAN or CN)";

std::string IdentityOfCertificate(absl::Span<const std::string_view> uri_sans,
                                  absl::Span<const std::string_view> dns_sans, std::string_view common_name);

// The identity of a parsed certificate (its SANs and subject, as above).
std::string IdentityOfX509(x509_st* certificate);

// The identity the others see in a PEM chain: that of its first
// certificate, the one a TLS handshake presents. INVALID_ARGUMENT when
// there is none to read.
absl::StatusOr<std::string> IdentityOfPemChain(std::string_view pem);

}  // namespace registryd::auth
