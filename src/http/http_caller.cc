#include "http/http_caller.h"

#include <string>
#include <vector>

#include <openssl/x509v3.h>

#include "auth/certificate_identity.h"
#include "auth/identity.h"
#include "http/http_server.h"
#include "auth/tokens.h"

namespace registryd::http {
namespace {

#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
std::string_view ViewOf(const ASN1_STRING* text) {
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)), static_cast<size_t>(ASN1_STRING_length(text))};
}

std::string CertificateIdentity(const httplib::Request& request) {
  if (request.ssl == nullptr) return {};
  X509* certificate = SSL_get1_peer_certificate(request.ssl);
  if (certificate == nullptr) return {};
  std::vector<std::string_view> uris;
  std::vector<std::string_view> dns_names;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_URI) uris.push_back(ViewOf(name->d.uniformResourceIdentifier));
    if (name->type == GEN_DNS) dns_names.push_back(ViewOf(name->d.dNSName));
  }
  std::string_view common_name;
  const X509_NAME* subject = X509_get_subject_name(certificate);
  if (const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); at >= 0) {
    common_name = ViewOf(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
  }
  std::string identity = auth::IdentityOfCertificate(uris, dns_names, common_name);
  GENERAL_NAMES_free(names);
  X509_free(certificate);
  return identity;
}
#else
std::string CertificateIdentity(const httplib::Request&) { return {}; }
#endif

}  // namespace

bool Refused(const absl::Status& check, httplib::Response& response) {
  if (check.ok()) return false;
  if (absl::IsUnauthenticated(check)) {
    response.set_header("WWW-Authenticate", "Bearer");
    ReplyError(response, 401, std::string(check.message()));
  } else {
    ReplyError(response, 403, std::string(check.message()));
  }
  return true;
}

std::optional<auth::CallerRef> ResolveCaller(OpsContext& context, const httplib::Request& request,
                                             httplib::Response& response) {
  const auth::Authority* authority = context.server().options().authority.get();
  if (authority == nullptr) return auth::CallerRef();
  const std::shared_ptr<const auth::Authority::Snapshot> snapshot = authority->Current();
  std::string identity = CertificateIdentity(request);
  if (absl::Status usable = auth::CheckIdentity(identity, auth::kCertificateName); !usable.ok()) {
    Refused(absl::UnauthenticatedError(usable.message()), response);
    return std::nullopt;
  }
  if (identity.empty()) {
    const std::string authorization = request.get_header_value("Authorization");
    if (const std::string_view token = auth::BearerToken(authorization); !token.empty()) {
      const std::optional<std::string_view> named = snapshot->tokens->IdentityOf(token);
      if (!named) {
        Refused(auth::UnknownTokenRefusal(), response);
        return std::nullopt;
      }
      identity = std::string(*named);
    }
  }
  return snapshot->CallerFor(std::move(identity));
}

}  // namespace registryd::http
