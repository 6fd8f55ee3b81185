// registryctl: the command line of registryd's native API, for operators and
// for servers that cannot link a gRPC client.
//
//   registryctl [--target HOST:PORT] register --service S --address HOST:PORT [--meta k=v]...
//   registryctl discover S [--json]
//   registryctl keep --service S --address HOST:PORT      (a registration sidecar)
//
// --target (default localhost:50051) and the TLS flags (--tls, --tls-ca,
// --tls-cert, --tls-key, --tls-server-name) and --token-file go before or
// after the subcommand.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <grpc/support/log.h>

#include "absl/time/time.h"
#include "auth/tokens.h"
#include "src/build_info.h"
#include "tools/registryctl/commands.h"

namespace registryd::ctl {
namespace {

// "--ttl 30s": a duration flag read into milliseconds (0 only where
// `zero_allowed`).
void AddMillis(CLI::App& app, const std::string& name, std::chrono::milliseconds& value, const std::string& help,
               bool zero_allowed = false) {
  app.add_option_function<std::string>(
      name,
      [&value, zero_allowed](const std::string& text) {
        absl::Duration parsed;
        const absl::Duration least = zero_allowed ? absl::ZeroDuration() : absl::Milliseconds(1);
        if (!absl::ParseDuration(text, &parsed) || parsed < least || parsed > absl::Hours(24 * 30)) {
          throw CLI::ValidationError(text, fmt::format("expected a duration from {} to 30 days, such as 30s or 500ms",
                                                       zero_allowed ? "0s" : "1ms"));
        }
        value = std::chrono::milliseconds(absl::ToInt64Milliseconds(parsed));
      },
      help);
}

// `required`: --service and --address must be given (keep checks them
// itself: keep --session takes its instances from other flags).
void AddRegistration(CLI::App& command, RegisterArgs& args, bool required = true) {
  command.add_option("--service", args.service, "Service name")->required(required);
  command.add_option("--address", args.address, "Where the instance listens: HOST:PORT")->required(required);
  command.add_option("--instance-id", args.instance_id, "Instance id (default: the registry assigns one)");
  command.add_option("--meta", args.metadata, "Metadata entry key=value (repeatable)");
  AddMillis(command, "--ttl", args.ttl, "Lease TTL (default: the registry's)");
  command.add_flag("--overloaded", args.overloaded, "Register as overloaded");
}

void AddLease(CLI::App& command, std::string& text) {
  command.add_option("lease", text, "Lease id, as register prints it (0x...)")->required();
}

int Main(int argc, char** argv) {
  // Failures are reported in one line of registryctl's own (output.h); gRPC's
  // log would add its own lines, e.g. for a failed TLS handshake.
  gpr_set_log_function([](gpr_log_func_args*) {});
  Connection connection;
  CLI::App app{"registryctl: register, renew, find and watch instances in registryd"};
  app.fallthrough();  // --target after the subcommand too
  app.require_subcommand(1);
  app.set_version_flag("--version", fmt::format("registryctl {} ({})", kVersion, kSourceRevision),
                       "Print the version and the source revision it was built from, and exit");
  app.add_option("--target", connection.target, "registryd's address")->capture_default_str();
  AddMillis(app, "--timeout", connection.timeout, "Deadline of each call (default 5s)");
  ClientTls tls;
  AddClientTlsFlags(app, tls);
  std::string token_file;
  app.add_option("--token-file", token_file,
                 "A file holding a bearer token of registryd's --auth-tokens, sent with every call "
                 "(use with --tls: a token is only as safe as the connection)");

  RegisterArgs registration;
  CLI::App* register_command = app.add_subcommand("register", "Register an instance; prints its lease");
  AddRegistration(*register_command, registration);

  std::string lease_text;
  bool overloaded = false;
  CLI::App* heartbeat_command = app.add_subcommand("heartbeat", "Renew a lease once");
  AddLease(*heartbeat_command, lease_text);
  heartbeat_command->add_flag("--overloaded", overloaded, "Report the instance overloaded");
  CLI::App* deregister_command = app.add_subcommand("deregister", "Remove an instance now");
  AddLease(*deregister_command, lease_text);

  std::string service;
  bool json = false;
  bool exclude_overloaded = false;
  CLI::App* discover_command = app.add_subcommand("discover", "List a service's live instances");
  discover_command->add_option("service", service, "Service name")->required();
  discover_command->add_flag("--exclude-overloaded", exclude_overloaded, "Leave out overloaded instances");
  discover_command->add_flag("--json", json, "JSON (protobuf's mapping, field names as in the .proto)");
  CLI::App* ls_command = app.add_subcommand("ls", "List services and their instance counts");
  ls_command->add_flag("--json", json, "JSON");
  CLI::App* sessions_command =
      app.add_subcommand("sessions", "List the sessions open now: id, instances, TTL left, stream, peer, owner");
  sessions_command->add_flag("--json", json, "JSON");
  CLI::App* health_command = app.add_subcommand("health", "Ask the registry's health service (exit 0 if SERVING)");
  health_command->add_option("service", service, "A service name of the health service (default: the server)");

  WatchArgs watch;
  CLI::App* watch_command =
      app.add_subcommand("watch", "Print a service's instances, then a line per change, until Ctrl-C");
  watch_command->add_option("service", watch.service, "Service name (default: every service)");
  watch_command->add_option("--since", watch.since_revision,
                            "Resume after this revision: print only the changes after it");
  watch_command->add_flag("--json", watch.json, "One JSON object per response");

  KeepArgs keep;
  CLI::App* keep_command =
      app.add_subcommand("keep", "Register and keep the lease alive until Ctrl-C, then deregister");
  AddRegistration(*keep_command, keep.registration, /*required=*/false);
  keep_command->add_flag("--bind", keep.bind_to_stream,
                         "Bind the lease to the stream: the registry drops the instance as soon as this "
                         "process dies");
  keep_command->add_flag("--session", keep.session,
                         "Keep every --instance and --instances-file instance in one session: one keep-alive "
                         "for all of them, resumed after a lost connection, closed on Ctrl-C (--ttl is the "
                         "session's)");
  keep_command->add_option("--instance", keep.instances,
                           "With --session: \"SERVICE ADDRESS [INSTANCE_ID] [key=value]...\" (repeatable)");
  keep_command->add_option("--instances-file", keep.instances_file,
                           "With --session: a file of such lines, one instance each (# starts a comment)");
  std::chrono::milliseconds grace{0};
  AddMillis(*keep_command, "--grace", grace,
            "With --session: how long the session waits for a resume after a lost connection (default: its TTL)",
            /*zero_allowed=*/true);

  CLI11_PARSE(app, argc, argv);

  uint64_t lease = 0;
  if (!lease_text.empty() && !ParseLease(lease_text, &lease)) {
    fmt::print(stderr, "registryctl: {}: not a lease id (expected 0x followed by hex digits, or decimal)\n",
               lease_text);
    return 2;
  }
  if (*keep_command) {
    // keep: SIGINT/SIGTERM are waited for on a thread of keep's; block them
    // before gRPC starts threads that would inherit an unblocked mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  }
  absl::StatusOr<ChannelFactory> channels = ChannelFactory::Make(tls);
  if (!channels.ok()) {
    fmt::print(stderr, "registryctl: {}\n", std::string(channels.status().message()));
    return 2;
  }
  connection.channels = *std::move(channels);
  if (!token_file.empty()) {
    absl::StatusOr<std::string> token = auth::ReadBearerTokenFile("--token-file", token_file);
    if (!token.ok()) {
      fmt::print(stderr, "registryctl: {}\n", std::string(token.status().message()));
      return 2;
    }
    connection.bearer_token = *std::move(token);
  }
  if (*register_command) return Register(connection, registration);
  if (*heartbeat_command) return Heartbeat(connection, lease, overloaded);
  if (*deregister_command) return Deregister(connection, lease);
  if (*discover_command) return Discover(connection, service, exclude_overloaded, json);
  if (*ls_command) return ListServices(connection, json);
  if (*sessions_command) return ListSessions(connection, json);
  if (*health_command) return Health(connection, service);
  if (*watch_command) return Watch(connection, watch);
  if (keep_command->count("--grace") > 0) keep.grace = grace;
  if (keep.session) return KeepSession(connection, keep);
  if (keep.registration.service.empty() || keep.registration.address.empty()) {
    fmt::print(stderr, "registryctl: keep: --service and --address are required (or --session with --instance "
                       "or --instances-file)\n");
    return 2;
  }
  return Keep(connection, keep);
}

}  // namespace
}  // namespace registryd::ctl

int main(int argc, char** argv) { return registryd::ctl::Main(argc, argv); }
