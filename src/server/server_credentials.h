// What registryd listens with: plaintext, TLS, or mutual TLS (clients must
// present a certificate signed by --tls-client-ca).
#pragma once

#include <memory>
#include <string>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"
#include "server/server_options.h"

namespace registryd {

// InvalidArgument when the settings do not go together (a key without a
// certificate, a client CA without either).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerTls& tls);

// "plaintext", "TLS" or "mutual TLS", for the start-up line.
std::string DescribeTransport(const ServerTls& tls);

// True when `listen` (host:port) only accepts connections from this machine.
bool IsLoopbackAddress(const std::string& listen);

}  // namespace registryd
