// GET /metrics. Per-thread counts are summed here, at scrape time
// (metrics/thread_metrics.h); gauges are read from the registry, the
// journal and the cluster. No label names an instance or a service: their
// number is unbounded, and Prometheus pays for every series.
#include <algorithm>
#include <array>

#include "auth/caller.h"
#include "http/ops_routes.h"
#include "metrics/process_stats.h"
#include "metrics/text_exposition.h"
#include "metrics/thread_metrics.h"

namespace registryd::http {
namespace {

using metrics::MetricType;
using metrics::TextExposition;

constexpr std::array<std::string_view, metrics::kStatusCodes> kCodeNames = {
    "OK",        "CANCELLED",          "UNKNOWN",        "INVALID_ARGUMENT",    "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS",     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",       "UNIMPLEMENTED",  "INTERNAL",            "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

struct MethodName {
  std::string_view service;
  std::string_view method;
};

MethodName Split(std::string_view full_name) {
  const size_t slash = full_name.find('/');
  return {full_name.substr(0, slash), full_name.substr(slash + 1)};
}

bool IsStream(std::string_view full_name) { return full_name.ends_with("/Watch") || full_name.ends_with("/KeepAlive"); }

double Seconds(Duration duration) { return std::chrono::duration<double>(duration).count(); }

void Counter(TextExposition& text, std::string_view name, std::string_view help, uint64_t value) {
  text.Family(name, MetricType::kCounter, help);
  text.Sample({}, value);
}

void Gauge(TextExposition& text, std::string_view name, std::string_view help, double value) {
  text.Family(name, MetricType::kGauge, help);
  text.Sample({}, value);
}

void WriteCalls(TextExposition& text, const metrics::MetricTotals& totals) {
  text.Family("registryd_grpc_server_handled_total", MetricType::kCounter,
              "gRPC calls finished, by method and status code (streams when they end).");
  for (size_t method = 0; method < metrics::kMethods.size(); ++method) {
    const MethodName name = Split(metrics::kMethods[method]);
    for (size_t code = 0; code < metrics::kStatusCodes; ++code) {
      const uint64_t calls = totals.calls[method][code];
      if (calls == 0 && code != 0) continue;  // OK always: every method has a series
      text.Sample({{"grpc_service", name.service}, {"grpc_method", name.method}, {"grpc_code", kCodeNames[code]}},
                  calls);
    }
  }
  text.Family("registryd_grpc_server_handling_seconds", MetricType::kHistogram,
              "Unary gRPC calls from the request's arrival to the answer, by method.");
  for (size_t method = 0; method < metrics::kMethods.size(); ++method) {
    if (IsStream(metrics::kMethods[method])) continue;
    const MethodName name = Split(metrics::kMethods[method]);
    text.Histogram({{"grpc_service", name.service}, {"grpc_method", name.method}}, totals.handling[method],
                   metrics::kDurationBuckets);
  }
}

void WriteRegistry(TextExposition& text, Registry& registry, const metrics::MetricTotals& totals) {
  const RegistryTotals registry_totals = registry.Totals();
  Gauge(text, "registryd_instances", "Live instances held.", static_cast<double>(registry_totals.live));
  Gauge(text, "registryd_services", "Services with live instances.", static_cast<double>(registry_totals.services));
  Counter(text, "registryd_registrations_total", "Instances registered (new ones).", registry_totals.registered);
  Counter(text, "registryd_updates_total", "Registrations of instances held already, and in cluster mode applied changes of an instance's address, metadata or overloaded flag.", registry_totals.updated);
  Counter(text, "registryd_deregistrations_total", "Instances deregistered or replaced.", registry_totals.deregistered);
  Counter(text, "registryd_expirations_total", "Instances whose lease expired.", registry_totals.expired);
  Counter(text, "registryd_ejections_total", "Instances taken out of rotation by warnServerError.", registry_totals.ejected);
  Counter(text, "registryd_expiry_batches_total", "Expiry wheel advances that expired leases.",
          registry_totals.expiry_batches);
  Duration lag = Duration::zero();
  const TimePoint now = registry.clock().Now();
  for (uint32_t shard = 0; shard < registry.shard_count(); ++shard) {
    lag = std::max(lag, now - registry.NextTickTime(shard));
  }
  Gauge(text, "registryd_expiry_wheel_lag_seconds",
        "How far the expiry wheel's next tick lies behind the clock, worst shard (0: on time).", Seconds(lag));

  text.Family("registryd_heartbeats_total", MetricType::kCounter,
              "Heartbeats received, by API (forwarded: renewals other cluster nodes sent on).");
  for (size_t api = 0; api < metrics::kHeartbeatApis.size(); ++api) {
    text.Sample({{"api", metrics::kHeartbeatApis[api]}}, totals.heartbeats[api]);
  }
  text.Family("registryd_streams_open", MetricType::kGauge, "Open gRPC streams, by kind.");
  for (size_t kind = 0; kind < metrics::kStreamKinds.size(); ++kind) {
    text.Sample({{"kind", metrics::kStreamKinds[kind]}},
                static_cast<double>(totals.streams_opened[kind] - totals.streams_closed[kind]));
  }
  Counter(text, "registryd_watch_events_sent_total", "Events sent on Watch streams.", totals.watch_events_sent);
  Counter(text, "registryd_watch_events_coalesced_total",
          "Changes a Watch stream that fell behind got folded into a later event of their instance.",
          totals.watch_events_coalesced);
  Counter(text, "registryd_watch_history_lost_total",
          "Snapshots sent with history_lost: the changes a Watch stream needed were no longer kept.",
          totals.watch_snapshots_history_lost);
  text.Family("registryd_xds_responses_total", MetricType::kCounter,
              "Responses sent on xDS (ADS) streams, by resource type.");
  for (size_t type = 0; type < metrics::kXdsTypes; ++type) {
    text.Sample({{"type", metrics::kXdsTypeNames[type]}}, totals.xds_responses[type]);
  }
  text.Family("registryd_xds_nacks_total", MetricType::kCounter,
              "Responses xDS clients rejected (NACK), by resource type; the log says why.");
  for (size_t type = 0; type < metrics::kXdsTypes; ++type) {
    text.Sample({{"type", metrics::kXdsTypeNames[type]}}, totals.xds_nacks[type]);
  }
}

// Sessions (core/session_table.h): one stream keeps many instances alive.
void WriteSessions(TextExposition& text, SessionTable& sessions) {
  Gauge(text, "registryd_sessions", "Sessions open now (their streams open, or in grace after a break).",
        static_cast<double>(sessions.live_sessions()));
  Counter(text, "registryd_session_expirations_total",
          "Sessions that ended without being closed (silent past their TTL, or not resumed within their grace); "
          "their instances expired with them.",
          sessions.expired_sessions());
  Counter(text, "registryd_session_resumes_total", "Sessions taken over by a new stream with their token.",
          sessions.resumed_sessions());
}

// The DNS face (src/dns/): every type and answer, zero or not.
void WriteDns(TextExposition& text, const metrics::MetricTotals& totals) {
  text.Family("registryd_dns_queries_total", MetricType::kCounter,
              "Queries to the DNS face by the type asked and the answer (nodata: NOERROR without records; "
              "dropped: none sent).");
  for (size_t type = 0; type < metrics::kDnsTypes.size(); ++type) {
    for (size_t answer = 0; answer < metrics::kDnsAnswers.size(); ++answer) {
      text.Sample({{"type", metrics::kDnsTypes[type]}, {"answer", metrics::kDnsAnswers[answer]}},
                  totals.dns_queries[type][answer]);
    }
  }
  Counter(text, "registryd_dns_truncated_total",
          "UDP answers of the DNS face that did not hold every record (TC set: the client asks again over TCP).",
          totals.dns_truncated);
  Counter(text, "registryd_dns_udp_dropped_total",
          "UDP queries the kernel dropped before the DNS face read them: its socket's receive buffer was full "
          "(queries came faster than the face answers).",
          totals.dns_udp_dropped);
}

// Stalls and holds: registryd's own faults, which no lease pays for (core/lease_clock.h).
void WriteOwnFaults(TextExposition& text, const LeaseClockStats& stats, const metrics::MetricTotals& totals) {
  Counter(text, "registryd_stalls_total",
          "Times registryd did not run for longer than --stall-threshold (paused, swapped out): every lease was "
          "extended by the stall.",
          stats.stalls);
  text.Family("registryd_stalled_seconds_total", MetricType::kCounter,
              "How long registryd did not run in all: what every lease was extended by.");
  text.Sample({}, Seconds(stats.stalled));
  Counter(text, "registryd_expiry_holds_total",
          "Times registryd fell behind (its alarms, or calls, later than --stall-threshold) and expiry waited.",
          stats.holds);
  Counter(text, "registryd_expiry_holds_capped_total",
          "Holds that reached --max-hold: expiry went on while registryd was still behind.", stats.holds_capped);
  text.Family("registryd_expiry_held_seconds_total", MetricType::kCounter,
              "How long expiry held in all: what every lease was extended by for holds.");
  text.Sample({}, Seconds(stats.held));
  Gauge(text, "registryd_expiry_hold_seconds",
        "How far lease time is held back now because registryd is behind (0: it is not).", Seconds(stats.hold));
  Gauge(text, "registryd_expiry_hold_longest_seconds", "The longest hold since the start.",
        Seconds(stats.longest_hold));
  Counter(text, "registryd_late_calls_total",
          "Calls registryd got to more than --stall-threshold after their deadline.", totals.late_calls);
  Counter(text, "registryd_calls_dropped_past_deadline_total",
          "Unary calls registryd got to more than --stall-threshold after their deadline: their clients had "
          "given up, so they were cancelled unanswered.",
          totals.calls_dropped_past_deadline);
  Counter(text, "registryd_connections_shed_total",
          "Client connections reset because their requests had waited unread longer than --shed-unread-after "
          "(registryd behind).",
          totals.connections_shed);
  Counter(text, "registryd_connections_reset_unsent_total",
          "Client connections reset because answers to them had waited unsent longer than --shed-unread-after "
          "(a client that stopped reading, or gRPC holding a connection's writes).",
          totals.connections_reset_unsent);
}

// Under a policy: refused calls, by the permission they lacked (the log says who and what).
void WriteAuthorization(TextExposition& text) {
  text.Family("registryd_auth_refusals_total", MetricType::kCounter,
              "Calls refused by the authorization policy, by the permission they lacked.");
  for (const auth::Permission permission :
       {auth::Permission::kRead, auth::Permission::kRegister, auth::Permission::kAdmin}) {
    text.Sample({{"permission", auth::NameOf(permission)}}, auth::RefusalCount(permission));
  }
  Counter(text, "registryd_auth_unknown_tokens_total",
          "Calls refused for a bearer token the token file does not hold.", auth::UnknownTokenCount());
}

void WriteJournal(TextExposition& text, const Journal& journal, const metrics::MetricTotals& totals) {
  Counter(text, "registryd_journal_written_bytes_total", "Bytes appended to the data dir's journal.",
          totals.journal_bytes);
  text.Family("registryd_journal_fsync_seconds", MetricType::kHistogram, "Time of each journal fdatasync.");
  text.Histogram({}, totals.journal_fsync, metrics::kDurationBuckets);
  Counter(text, "registryd_snapshots_total", "Snapshots written (compactions, catch-ups).", journal.snapshots_written());
  Gauge(text, "registryd_snapshot_last_duration_seconds", "How long writing the last snapshot took.",
        Seconds(journal.last_snapshot_duration()));
  Gauge(text, "registryd_snapshot_last_size_bytes", "The last snapshot's size.",
        static_cast<double>(journal.last_snapshot_bytes()));
}

void WriteCluster(TextExposition& text, cluster::Cluster& cluster, Registry& registry,
                  const metrics::MetricTotals& totals) {
  text.Family("registryd_etcd_txn_seconds", MetricType::kHistogram, "etcd Txns from sent to answered.");
  text.Histogram({}, totals.etcd_txn, metrics::kDurationBuckets);
  text.Family("registryd_etcd_txn_writes", MetricType::kHistogram, "Writes per etcd Txn (group commit).");
  text.Histogram({}, totals.etcd_txn_writes, metrics::kBatchBuckets);
  Counter(text, "registryd_etcd_txn_failures_total", "etcd Txns that failed (etcd unreachable or refusing).",
          totals.etcd_txn_failures);
  Gauge(text, "registryd_cluster_watch_lag_seconds",
        "How far this node's view lags etcd: its last beacon's way from commit back through the watch.",
        Seconds(cluster.WatchLag()));
  Gauge(text, "registryd_cluster_etcd_silence_seconds", "Time since etcd last answered this node.",
        Seconds(cluster.EtcdSilence()));
  text.Family("registryd_cluster_catch_ups_total", MetricType::kCounter,
              "Times this node showed its watch current (a fresh beacon) before it served again.");
  text.Sample({{"after", "stall"}}, static_cast<double>(cluster.catch_ups_after_stalls()));
  text.Sample({{"after", "cut_off"}}, static_cast<double>(cluster.catch_ups_after_cut_offs()));
  Counter(text, "registryd_cluster_unvouched_answers_total",
          "Leases and sessions not found here answered UNAVAILABLE, not NOT_FOUND: this node could not vouch "
          "that its view is current.",
          cluster.unvouched_answers());
  Gauge(text, "registryd_cluster_nodes", "Live registryd nodes in the cluster, this one included.",
        static_cast<double>(cluster.PeerAddresses().size() + 1));
  const RegistryTotals registry_totals = registry.Totals();
  text.Family("registryd_cluster_leases", MetricType::kGauge,
              "Leases by holder: kept (renewed, expired) by this node or by another.");
  text.Sample({{"holder", "self"}}, static_cast<double>(registry_totals.live - registry_totals.held_elsewhere));
  text.Sample({{"holder", "others"}}, static_cast<double>(registry_totals.held_elsewhere));
}

void WriteProcess(TextExposition& text) {
  const std::optional<metrics::ProcessStats> stats = metrics::ReadProcessStats();
  if (!stats) return;
  text.Family("process_cpu_seconds_total", MetricType::kCounter, "Total user and system CPU time spent in seconds.");
  text.Sample({}, stats->cpu_seconds);
  Gauge(text, "process_resident_memory_bytes", "Resident memory size in bytes.",
        static_cast<double>(stats->resident_bytes));
  Gauge(text, "process_virtual_memory_bytes", "Virtual memory size in bytes.", static_cast<double>(stats->virtual_bytes));
  Gauge(text, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
        stats->start_time_seconds);
  Gauge(text, "process_open_fds", "Number of open file descriptors.", static_cast<double>(stats->open_fds));
  Gauge(text, "process_max_fds", "Maximum number of open file descriptors.", static_cast<double>(stats->max_fds));
}

}  // namespace

void AddMetricsRoute(HttpServer& http, OpsContext& context) {
  http.Get("/metrics", [&context, &http](const httplib::Request& request, httplib::Response& response) {
    if (!request.params.empty()) {
      ReplyError(response, 400, "/metrics takes no query parameters");
      return;
    }
    Server& server = context.server();
    const metrics::MetricTotals totals = metrics::Collect();
    TextExposition text;
    text.Family("registryd_build_info", MetricType::kGauge, "1, labelled with the build's version and source revision.");
    text.Sample({{"version", context.info().version}, {"revision", context.info().revision}}, uint64_t{1});
    Gauge(text, "registryd_ready", "1 while the node serves (as /readyz), else 0.",
          context.phase() == OpsContext::Phase::kServing && server.serving() ? 1 : 0);
    WriteCalls(text, totals);
    WriteRegistry(text, server.registry(), totals);
    WriteSessions(text, server.registry().sessions());
    WriteOwnFaults(text, server.lease_clock().stats(), totals);
    WriteDns(text, totals);
    if (server.options().authority) WriteAuthorization(text);
    if (const Journal* journal = server.journal()) WriteJournal(text, *journal, totals);
    if (cluster::Cluster* cluster = server.cluster()) WriteCluster(text, *cluster, server.registry(), totals);
    Counter(text, "registryd_http_answers_cut_total",
            "HTTP answers whose connection was closed at --http-answer-deadline: a reader too slow to take them.",
            http.answers_cut());
    WriteProcess(text);
    response.status = 200;
    response.set_content(text.Take(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace registryd::http
