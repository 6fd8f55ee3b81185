// registryd --check-config: reads the configuration as registryd would start
// with it (the --config file, the command line, the files they name: TLS
// certificates and keys, the authorization policy and tokens) and reports
// every error it finds, each as "file:line:column: message", without
// listening on anything.
#pragma once

#include <string>
#include <vector>

namespace registryd::flags {

// Whether the command line asks for --check-config.
bool AsksForConfigCheck(int argc, const char* const* argv);

// Checks the configuration the command line (and its --config file) makes,
// prints every error on stderr, or that it is fine on stdout; returns the
// exit status (0 or 1).
int RunConfigCheck(int argc, const char* const* argv);

// The errors of the --config file `path`, line by line: a line that is not
// `key = value`, a key that is no flag, a value the flag refuses. Each line
// is checked on its own, so every bad line is reported.
std::vector<std::string> CheckConfigFile(const std::string& path);

// The errors of the TLS files (each a PEM file that holds what its flag
// says: certificates, a private key that belongs to the certificate).
std::vector<std::string> CheckTlsFiles(const std::string& cert_file, const std::string& key_file,
                                       const std::string& client_ca_file);

}  // namespace registryd::flags
