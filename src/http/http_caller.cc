#include "http/http_caller.h"

#include <string>

#include <openssl/ssl.h>

#include "auth/certificate_identity.h"
#include "auth/identity.h"
#include "http/http_server.h"
#include "auth/tokens.h"

namespace registryd::http {
namespace {

#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
std::string CertificateIdentity(const httplib::Request& request) {
  if (request.ssl == nullptr) return {};
  X509* certificate = SSL_get1_peer_certificate(request.ssl);
  if (certificate == nullptr) return {};
  std::string identity = auth::IdentityOfX509(certificate);
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
