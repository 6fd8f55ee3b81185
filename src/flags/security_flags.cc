#include "flags/security_flags.h"

#include "core/read_file.h"

namespace registryd::flags {

absl::Status ReadPemFiles(std::initializer_list<std::pair<const std::string*, std::string*>> files) {
  for (const auto& [path, pem] : files) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> contents = ReadFile(*path);
    if (!contents.ok()) return contents.status();
    *pem = *std::move(contents);
  }
  return absl::OkStatus();
}

void SecurityFlags::AddTo(CLI::App& app) {
  CLI::App& group = *app.add_option_group("TLS and authorization", "Who can connect, and who may change what");
  group.add_option("--tls-cert", tls_cert_file, "Serve TLS with this certificate chain (PEM); default plaintext")
      ->check(CLI::ExistingFile);
  group.add_option("--tls-key", tls_key_file, "The private key of --tls-cert (PEM)")->check(CLI::ExistingFile);
  group.add_option("--tls-client-ca", tls_client_ca_file,
                   "Mutual TLS: require client certificates signed by this CA (PEM), refuse other clients")
      ->check(CLI::ExistingFile);
  group.add_option("--authz-policy", auth_files.policy,
                   "Authorize every call by this policy (protobuf text: who may read, register or administer which "
                   "services; README, Security); default: anyone may do anything. SIGHUP reloads it")
      ->check(CLI::ExistingFile);
  group.add_option("--auth-tokens", auth_files.tokens,
                   "Bearer tokens (their SHA-256 and the identity each stands for) for clients without a client "
                   "certificate; needs --authz-policy. SIGHUP reloads it")
      ->check(CLI::ExistingFile);
  group.add_option("--audit-log", auth_files.audit_log,
                   "Append every change made or refused (register, deregister, eject) to this file as JSON lines "
                   "(time, identity, action, service, instance, result); needs --authz-policy");
}

std::optional<std::string> SecurityFlags::Check() const {
  if (!auth_files.audit_log.empty() && auth_files.policy.empty()) {
    return "--audit-log needs --authz-policy: the log records who made each change";
  }
  if (!auth_files.tokens.empty() && auth_files.policy.empty()) {
    return "--auth-tokens needs --authz-policy: tokens name identities, the policy says what they may do";
  }
  return std::nullopt;
}

absl::Status SecurityFlags::ApplyTo(ServerOptions& options) const {
  if (absl::Status read = ReadPemFiles({{&tls_cert_file, &options.tls.cert_chain},
                                        {&tls_key_file, &options.tls.private_key},
                                        {&tls_client_ca_file, &options.tls.client_ca}});
      !read.ok()) {
    return read;
  }
  if (auth_files.policy.empty()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<auth::Authority>> authority = auth::Authority::Load(auth_files);
  if (!authority.ok()) return authority.status();
  options.authority = *std::move(authority);
  return absl::OkStatus();
}

}  // namespace registryd::flags
