// How a client (registryctl, registry_bench) connects to registryd: in
// plaintext, over TLS (verifying the server against --tls-ca, or the system's
// roots), and with a client certificate for a registryd that requires one
// (--tls-client-ca). The same flags in both tools.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/status/statusor.h"

namespace CLI {
class App;
}

namespace registryd {

struct ClientTls {
  bool tls = false;         // TLS with the system's roots, unless ca_file is set
  std::string ca_file;      // PEM: the CA that signed registryd's certificate
  std::string cert_file;    // PEM: this client's certificate chain, for mutual TLS
  std::string key_file;     // PEM: its private key
  std::string server_name;  // the name to verify in registryd's certificate, if not the target's host

  bool enabled() const { return tls || !ca_file.empty() || !cert_file.empty(); }
};

// --tls, --tls-ca, --tls-cert, --tls-key, --tls-server-name.
void AddClientTlsFlags(CLI::App& app, ClientTls& tls);

// Reads the files once; the channels made from it share them.
class ChannelFactory {
 public:
  static absl::StatusOr<ChannelFactory> Make(const ClientTls& tls);

  // A channel of its own (its own connection when `arguments` say so).
  std::shared_ptr<grpc::Channel> Open(const std::string& target,
                                      grpc::ChannelArguments arguments = grpc::ChannelArguments()) const;

 private:
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::string server_name_;
};

}  // namespace registryd
