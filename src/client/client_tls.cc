#include "client/client_tls.h"

#include <CLI/CLI.hpp>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/status/status.h"
#include "core/read_file.h"

namespace registryd {

void AddClientTlsFlags(CLI::App& app, ClientTls& tls) {
  app.add_flag("--tls", tls.tls, "Connect over TLS, verifying registryd against the system's CAs");
  app.add_option("--tls-ca", tls.ca_file, "Connect over TLS, verifying registryd against this CA (PEM)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-cert", tls.cert_file, "This client's certificate (PEM), for a registryd with --tls-client-ca")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", tls.key_file, "The private key of --tls-cert (PEM)")->check(CLI::ExistingFile);
  app.add_option("--tls-server-name", tls.server_name,
                 "The name registryd's certificate must carry, when not the target's host");
}

absl::StatusOr<ChannelFactory> ChannelFactory::Make(const ClientTls& tls) {
  ChannelFactory factory;
  if (!tls.enabled()) {
    if (!tls.server_name.empty()) return absl::InvalidArgumentError("--tls-server-name needs TLS (--tls or --tls-ca)");
    factory.credentials_ = grpc::InsecureChannelCredentials();
    return factory;
  }
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  grpc::SslCredentialsOptions options;
  if (!tls.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(tls.ca_file);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
  }
  if (!tls.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(tls.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(tls.key_file);
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  factory.credentials_ = grpc::SslCredentials(options);
  factory.server_name_ = tls.server_name;
  return factory;
}

std::shared_ptr<grpc::Channel> ChannelFactory::Open(const std::string& target,
                                                    grpc::ChannelArguments arguments) const {
  if (!server_name_.empty()) arguments.SetSslTargetNameOverride(server_name_);
  return grpc::CreateCustomChannel(target, credentials_, arguments);
}

}  // namespace registryd
