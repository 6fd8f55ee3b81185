// registryd's flags, "TLS and authorization": the certificates of the gRPC
// port (and the HTTP face), and who may do what.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"
#include "auth/authority.h"
#include "server/server_options.h"

namespace registryd::flags {

struct SecurityFlags {
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  auth::AuthFiles auth_files;

  void AddTo(CLI::App& app);
  std::optional<std::string> Check() const;
  // Reads the TLS files and loads the policy and tokens; what cannot be
  // read or parsed is an error naming the file.
  absl::Status ApplyTo(ServerOptions& options) const;
};

// Reads each named file (path, destination) whose path is set.
absl::Status ReadPemFiles(std::initializer_list<std::pair<const std::string*, std::string*>> files);

}  // namespace registryd::flags
