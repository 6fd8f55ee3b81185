#include "auth/certificate_identity.h"

#include <memory>
#include <vector>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace registryd::auth {
namespace {

std::string_view ViewOf(const ASN1_STRING* text) {
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)), static_cast<size_t>(ASN1_STRING_length(text))};
}

}  // namespace

std::string IdentityOfCertificate(absl::Span<const std::string_view> uri_sans,
                                  absl::Span<const std::string_view> dns_sans, std::string_view common_name) {
  if (!uri_sans.empty()) return std::string(uri_sans.front());
  if (!dns_sans.empty()) return std::string(dns_sans.front());
  return std::string(common_name);
}

std::string IdentityOfX509(x509_st* certificate) {
  std::vector<std::string_view> uris;
  std::vector<std::string_view> dns_names;
  const std::unique_ptr<GENERAL_NAMES, decltype(&GENERAL_NAMES_free)> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)),
      &GENERAL_NAMES_free);
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_URI) uris.push_back(ViewOf(name->d.uniformResourceIdentifier));
    if (name->type == GEN_DNS) dns_names.push_back(ViewOf(name->d.dNSName));
  }
  std::string_view common_name;
  const X509_NAME* subject = X509_get_subject_name(certificate);
  if (const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); at >= 0) {
    common_name = ViewOf(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
  }
  return IdentityOfCertificate(uris, dns_names, common_name);
}

absl::StatusOr<std::string> IdentityOfPemChain(std::string_view pem) {
  const std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                     &BIO_free);
  const std::unique_ptr<X509, decltype(&X509_free)> first(
      in == nullptr ? nullptr : PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr), &X509_free);
  if (first == nullptr) return absl::InvalidArgumentError("no PEM certificate to read");
  return IdentityOfX509(first.get());
}

}  // namespace registryd::auth
