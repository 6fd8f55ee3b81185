// registryd: the program's outline. The flags (src/flags/) make the
// server's options; main starts the server and the HTTP face, waits for
// signals, and stops them.
#include <csignal>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/ranges.h>

#include "absl/synchronization/mutex.h"
#include "auth/authority.h"
#include "auth/certificate_identity.h"
#include "auth/tokens.h"
#include "build_info.h"
#include "core/log.h"
#include "core/queue_watchdog.h"
#include "daemon/systemd_notify.h"
#include "dns/dns_server.h"
#include "flags/config_check.h"
#include "flags/config_text.h"
#include "flags/registryd_flags.h"
#include "http/http_server.h"
#include "http/ops_routes.h"
#include "server/server.h"
#include "server/server_credentials.h"

namespace {

using registryd::flags::FormatDuration;

// Under a policy the other nodes refuse this node's Peer calls unless its
// identity has admin on every service (they take the leases over instead of
// having their renewals forwarded): say so at the start, not at the first
// forwarded renewal. Under mutual TLS the others know the node by its
// certificate (a bearer token beside one goes unread); else by its
// --peer-token-file.
void WarnIfPeersWillRefuseThisNode(const registryd::auth::Authority& authority, const std::string& peer_token,
                                   const registryd::ServerTls& tls) {
  const std::shared_ptr<const registryd::auth::Authority::Snapshot> snapshot = authority.Current();
  std::string identity;
  std::string named_by;
  if (!tls.client_ca.empty()) {
    absl::StatusOr<std::string> named = registryd::auth::IdentityOfPemChain(tls.cert_chain);
    if (named.ok()) identity = *std::move(named);
    named_by = "this node's certificate (--tls-cert)";
  }
  if (identity.empty() && !peer_token.empty()) {
    const std::optional<std::string_view> named = snapshot->tokens->IdentityOf(peer_token);
    if (!named) {
      registryd::log::Warn("cluster: --peer-token-file holds a token --auth-tokens does not: the other nodes will "
                           "refuse this node's forwarded renewals");
      return;
    }
    identity = std::string(*named);
    named_by = "--peer-token-file";
  }
  if (identity.empty()) {
    registryd::log::Warn("cluster: under --authz-policy this node's calls to the other nodes carry no identity{}, so "
                         "they will refuse its forwarded renewals: give every node {} whose identity has admin on "
                         "every service",
                         tls.client_ca.empty() ? "" : " (its certificate names nobody)",
                         tls.client_ca.empty() ? "--peer-token-file with a token" : "a certificate");
    return;
  }
  if (!snapshot->policy->GrantsFor(identity)->AllowsEveryService(registryd::auth::Permission::kAdmin)) {
    registryd::log::Warn("cluster: {} names \"{}\", which has no admin on every service: the other nodes will "
                         "refuse this node's forwarded renewals",
                         named_by, identity);
  }
}

// Revisions start from the wall clock in microseconds: a Watch client that
// resumes with a revision from an earlier run (lower) gets a snapshot. (In
// cluster mode revisions are etcd's, the same on every node.)
uint64_t FirstRevision() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// Blocks the stop and reload signals in every thread (the queue threads
// inherit the mask); main waits for them with sigwait.
sigset_t BlockSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// SIGHUP: a new audit log file (logrotate renamed the old one), then the
// policy and tokens again.
void ReloadAuthorization(registryd::Server& server, registryd::auth::Authority* authority) {
  if (authority == nullptr) {
    registryd::log::Info("SIGHUP received: no --authz-policy to reload");
    return;
  }
  if (const absl::Status reopened = authority->ReopenAuditLog(); !reopened.ok()) {
    registryd::log::Error("SIGHUP received: still writing the audit log to the file renamed away: {}",
                          std::string(reopened.message()));
  }
  if (const absl::Status reloaded = server.ReloadAuthorization(); !reloaded.ok()) {
    registryd::log::Error("SIGHUP received: keeping the authorization policy loaded before: {}",
                          std::string(reloaded.message()));
  } else {
    registryd::log::Info("SIGHUP received: authorization reloaded: {}", registryd::auth::Describe(authority));
  }
}

// Under a unit with WatchdogSec=: every queue reports from an alarm of its
// own four times an interval, and systemd is pinged only while all do.
void FeedSystemdWatchdog(registryd::ServerOptions& options) {
  const std::optional<registryd::Duration> interval = registryd::daemon::WatchdogInterval();
  if (!interval) return;
  options.watchdog =
      std::make_shared<registryd::QueueWatchdog>(options.threads, *interval / 4, registryd::daemon::NotifyWatchdog);
  registryd::log::Info("systemd watchdog: {}, pinged every {} while all {} queue threads run",
                       FormatDuration(*interval), FormatDuration(options.watchdog->period()), options.threads);
}

// The start's lines: what serves where, and the warnings an exposed
// registryd deserves.
void LogServing(registryd::Server& server, const registryd::ServerOptions& options,
                const registryd::flags::RegistrydFlags& flags) {
  const registryd::flags::LeaseFlags& leases = flags.leases;
  registryd::log::Info(
      "registryd listening on {} ({}, seed API {}, xDS {}, {}, threads {}, lease TTL {}, TTL bounds {}..{}, tick {}, "
      "max instances {})",
      server.address(), registryd::DescribeTransport(options.tls), flags.serving.seed_api, flags.xds.xds,
      flags.DescribeStorage(options, options.cluster ? server.cluster()->options().node_name : std::string()),
      options.threads, FormatDuration(leases.lease_ttl.value), FormatDuration(leases.min_ttl.value),
      FormatDuration(leases.max_ttl.value), FormatDuration(leases.tick.value), options.registry.max_instances);
  registryd::log::Info("authorization: {}", registryd::auth::Describe(options.authority.get()));
  if (options.tls.cert_chain.empty() && !registryd::IsLoopbackAddress(options.listen)) {
    registryd::log::Warn("serving plaintext on {}: anyone who can reach it can register and deregister instances; "
                         "use --tls-cert/--tls-key (and --tls-client-ca), or listen on a loopback address",
                         server.address());
  }
  if (options.authority == nullptr && !registryd::IsLoopbackAddress(options.listen)) {
    registryd::log::Warn("no --authz-policy: anyone who can reach {} may register any address under any service, "
                         "and renew, move or deregister anyone's instances",
                         server.address());
  }
}

// Starts the HTTP face in `face` (left empty when --http-listen is); an
// error when it cannot listen.
absl::Status StartHttpFace(const registryd::http::HttpOptions& options, registryd::http::OpsContext& ops,
                           std::optional<registryd::http::HttpServer>& face) {
  if (options.listen.empty()) return absl::OkStatus();
  face.emplace(options);
  registryd::http::AddOpsRoutes(*face, ops);
  if (absl::Status status = face->Start(); !status.ok()) return status;
  registryd::log::Info("HTTP face on {}://{} (/metrics, /healthz, /readyz, /v1/services)",
                       face->tls() ? "https" : "http", face->address());
  if (!face->tls() && !registryd::IsLoopbackAddress(options.listen)) {
    registryd::log::Warn("serving HTTP in plaintext on {}: anyone who can reach it can read the registry and its "
                         "metrics; use --tls-cert/--tls-key, or a loopback --http-listen",
                         face->address());
  }
  return absl::OkStatus();
}

absl::Status StartDnsFace(const registryd::flags::DnsFlags& flags, registryd::Registry& registry,
                          const registryd::auth::Authority* authority,
                          std::optional<registryd::dns::DnsServer>& face) {
  if (flags.listen.empty()) return absl::OkStatus();
  absl::StatusOr<registryd::dns::DnsOptions> options = flags.Options();
  if (!options.ok()) return options.status();
  face.emplace(registry, *std::move(options), authority);
  if (absl::Status status = face->Start(); !status.ok()) return status;
  registryd::log::Info("DNS face on {} (UDP and TCP): <service>.service.{} SRV, A, AAAA", face->address(),
                       flags.Options()->domain);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's abseil checks lock order on every absl::Mutex acquisition (gRPC
  // locks several per call): a debugging aid that perf shows at a few
  // percent of a call's CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Before parsing: the check reports what parsing would stop at.
  if (registryd::flags::AsksForConfigCheck(argc, argv)) return registryd::flags::RunConfigCheck(argc, argv);
  registryd::flags::RegistrydFlags flags;
  CLI::App app{"registryd: a service registry and discovery server (gRPC). It serves the seed's "
               "registry_service/discovery_service contract and the native registry.v1 API on one port."};
  flags.AddTo(app);
  CLI11_PARSE(app, argc, argv);
  if (flags.print_config) {
    std::fputs(registryd::ConfigText(app).c_str(), stdout);
    return 0;
  }
  if (const std::optional<std::string> wrong = flags.Check()) {
    std::fprintf(stderr, "%s\n", wrong->c_str());
    return 2;
  }
  flags.logging.Apply();
  absl::StatusOr<registryd::ServerOptions> made = flags.ToServerOptions();
  if (!made.ok()) {
    registryd::log::Error("{}", std::string(made.status().message()));
    return 1;
  }
  registryd::ServerOptions& options = *made;
  if (!options.cluster) options.registry.first_revision = FirstRevision();
  if (options.cluster && options.authority) {
    WarnIfPeersWillRefuseThisNode(*options.authority, options.cluster->peer_token, options.tls);
  }
  FeedSystemdWatchdog(options);

  const sigset_t signals = BlockSignals();
  registryd::SteadyClock clock;
  registryd::Server server(options, clock);
  // The HTTP face comes up first, so that probes see the start (/readyz 503
  // while a data dir restores or the catalog loads).
  registryd::http::OpsContext ops(server, registryd::http::NodeInfo{registryd::kVersion, registryd::kSourceRevision,
                                                                    std::chrono::system_clock::now(),
                                                                    flags.Settings(options)});
  // After `ops`: its routes use it, so it stops first on every way out.
  std::optional<registryd::http::HttpServer> http_face;
  if (const absl::Status status = StartHttpFace(flags.http.Options(flags.security), ops, http_face); !status.ok()) {
    registryd::log::Error("{}", std::string(status.message()));
    return 1;
  }
  if (const absl::Status status = server.Start(); !status.ok()) {
    registryd::log::Error("{}", std::string(status.message()));
    return 1;
  }
  // After the start: the registry it answers from is restored or loaded.
  std::optional<registryd::dns::DnsServer> dns_face;
  if (const absl::Status status = StartDnsFace(flags.dns, server.registry(), options.authority.get(), dns_face); !status.ok()) {
    registryd::log::Error("{}", std::string(status.message()));
    server.Shutdown();
    if (http_face) http_face->Stop();
    return 1;
  }
  ops.set_phase(registryd::http::OpsContext::Phase::kServing);
  LogServing(server, options, flags);
  const std::string serving = fmt::format("serving on {}", server.address());
  registryd::daemon::NotifyReady(serving);

  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    registryd::daemon::NotifyReloading();
    ReloadAuthorization(server, options.authority.get());
    registryd::daemon::NotifyReady(serving);
  }
  registryd::log::Info("{} received: shutting down (in-flight calls get {})", strsignal(signal_number),
                       FormatDuration(flags.serving.shutdown_timeout.value));
  registryd::daemon::NotifyStopping();
  ops.set_phase(registryd::http::OpsContext::Phase::kStopping);
  if (dns_face) dns_face->Stop();
  server.Shutdown();
  if (http_face) http_face->Stop();
  registryd::log::Info("stopped");
  return 0;
}
