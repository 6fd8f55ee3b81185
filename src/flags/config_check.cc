#include "flags/config_check.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string_view>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "flags/registryd_flags.h"

namespace registryd::flags {
namespace {

// Where a line's value starts (1-based), for the column of an error in it.
size_t ValueColumn(const std::string& line) {
  const size_t equals = line.find('=');
  if (equals == std::string::npos) return 1;
  const size_t value = line.find_first_not_of(" \t", equals + 1);
  return value == std::string::npos ? equals + 1 : value + 1;
}

// The one-line reason CLI11 gives for refusing `--name inputs...`, or empty.
std::string Refusal(const std::string& name, const std::vector<std::string>& inputs) {
  RegistrydFlags flags;
  CLI::App app;
  flags.AddTo(app);
  // CLI::App::parse takes the arguments last first.
  std::vector<std::string> arguments(inputs.rbegin(), inputs.rend());
  arguments.push_back("--" + name);
  try {
    app.parse(arguments);
  } catch (const CLI::Error& error) {
    return error.what();
  }
  return {};
}

// Whether `line` opens an array after its '=' that it does not close: CLI11
// 2.1's TOML reader (registryd's --config) takes arrays on one line only.
bool OpensMultiLineArray(const std::string& line) {
  const size_t equals = line.find('=');
  if (equals == std::string::npos) return false;
  int depth = 0;
  bool quoted = false;
  for (size_t i = equals + 1; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '\\') {
        ++i;  // an escaped character
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == '#') {
      break;
    } else if (c == '[') {
      ++depth;
    } else if (c == ']') {
      --depth;
    }
  }
  return depth > 0;
}

using Pem = std::unique_ptr<BIO, decltype(&BIO_free)>;

Pem OpenPem(const std::string& path) { return Pem(BIO_new_file(path.c_str(), "r"), &BIO_free); }

}  // namespace

std::vector<std::string> CheckConfigFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return {fmt::format("{}:1:1: cannot be read", path)};
  RegistrydFlags flags;
  CLI::App app;
  flags.AddTo(app);
  std::vector<std::string> errors;
  std::string line;
  for (size_t number = 1; std::getline(file, line); ++number) {
    if (OpensMultiLineArray(line)) {
      errors.push_back(fmt::format("{}:{}:{}: an array must be on one line (a = [\"x\", \"y\"]): the TOML reader "
                                   "of --config takes no multi-line arrays",
                                   path, number, ValueColumn(line)));
      // The array's further lines belong to it: skip them to its closing line.
      while (line.find(']') == std::string::npos && std::getline(file, line)) ++number;
      continue;
    }
    std::istringstream one_line(line);
    std::vector<CLI::ConfigItem> items;
    try {
      items = CLI::ConfigTOML().from_config(one_line);
    } catch (const CLI::Error& error) {
      errors.push_back(fmt::format("{}:{}:1: {}", path, number, error.what()));
      continue;
    }
    for (const CLI::ConfigItem& item : items) {
      const std::string name = item.fullname();
      const CLI::Option* option = app.get_option_no_throw("--" + name);
      if (option == nullptr || !option->get_configurable()) {
        errors.push_back(fmt::format("{}:{}:1: \"{}\" is no flag of registryd (registryd --help lists them)", path,
                                     number, name));
        continue;
      }
      if (std::string refused = Refusal(name, item.inputs); !refused.empty()) {
        errors.push_back(fmt::format("{}:{}:{}: {}: {}", path, number, ValueColumn(line), name, refused));
      }
    }
  }
  return errors;
}

std::vector<std::string> CheckTlsFiles(const std::string& cert_file, const std::string& key_file,
                                       const std::string& client_ca_file) {
  std::vector<std::string> errors;
  std::unique_ptr<X509, decltype(&X509_free)> certificate(nullptr, &X509_free);
  for (const std::string* path : {&cert_file, &client_ca_file}) {
    if (path->empty()) continue;
    Pem pem = OpenPem(*path);
    std::unique_ptr<X509, decltype(&X509_free)> first(
        pem ? PEM_read_bio_X509(pem.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
    if (first == nullptr) {
      errors.push_back(fmt::format("{}:1:1: holds no PEM certificate", *path));
    } else if (path == &cert_file) {
      certificate = std::move(first);
    }
  }
  if (!key_file.empty()) {
    Pem pem = OpenPem(key_file);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        pem ? PEM_read_bio_PrivateKey(pem.get(), nullptr, nullptr, nullptr) : nullptr, &EVP_PKEY_free);
    if (key == nullptr) {
      errors.push_back(fmt::format("{}:1:1: holds no PEM private key", key_file));
    } else if (certificate != nullptr && X509_check_private_key(certificate.get(), key.get()) != 1) {
      errors.push_back(fmt::format("{}:1:1: is not the private key of {}", key_file, cert_file));
    }
  }
  if (cert_file.empty() != key_file.empty()) {
    errors.push_back("--tls-cert and --tls-key go together: give both, or neither");
  }
  if (!client_ca_file.empty() && cert_file.empty()) errors.push_back("--tls-client-ca needs --tls-cert and --tls-key");
  ERR_clear_error();
  return errors;
}

bool AsksForConfigCheck(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--check-config") == 0) return true;
  }
  return false;
}

int RunConfigCheck(int argc, const char* const* argv) {
  // The --config file named on the command line, if any.
  std::string config_file;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (argument == "--config" && i + 1 < argc) config_file = argv[i + 1];
    if (argument.starts_with("--config=")) config_file = std::string(argument.substr(9));
  }
  std::vector<std::string> errors;
  if (!config_file.empty()) errors = CheckConfigFile(config_file);
  RegistrydFlags flags;
  CLI::App app;
  flags.AddTo(app);
  bool parsed = false;
  try {
    app.parse(argc, argv);
    parsed = true;
  } catch (const CLI::Error& error) {
    // A bad line of the file is reported above, where it is.
    if (errors.empty()) errors.push_back(error.what());
  }
  if (parsed) {
    if (std::optional<std::string> wrong = flags.Check()) errors.push_back(*wrong);
    for (std::string& error : CheckTlsFiles(flags.security.tls_cert_file, flags.security.tls_key_file,
                                            flags.security.tls_client_ca_file)) {
      errors.push_back(std::move(error));
    }
    // The policy, the tokens, the data dir and the cluster's files, as the
    // start reads them (the policy's errors name their line and column).
    if (absl::StatusOr<ServerOptions> options = flags.ToServerOptions(); !options.ok()) {
      errors.push_back(std::string(options.status().message()));
    }
  }
  for (const std::string& error : errors) std::fprintf(stderr, "%s\n", error.c_str());
  if (!errors.empty()) return 1;
  std::printf("registryd: the configuration%s is fine\n",
              config_file.empty() ? "" : fmt::format(" ({})", config_file).c_str());
  return 0;
}

}  // namespace registryd::flags
