// The sessions scenario (issue #26's targets), each ratio measured in one run:
//  - detection: a client holding `detection_sessions` sessions killed (grace
//    0) and stopped (bench/session_detection.h), on the empty registry;
//  - on a fresh registryd (`spawn_another`): `leases` instances with native
//    Register (memory per instance, throughput); KeepAlive renewals of
//    `single_sessions` of them, each once a second; KeepAlive renewals at the
//    message rate of the sessions' steady state below; as many sessions of
//    one instance as above, each refreshed once a second;
//  - on the target: the same `leases` instances registered over sessions of
//    `session_size`, `session_batch` instances per request (memory,
//    throughput; 1 by default, as Register takes one a call); then each
//    session refreshed once per `session_window` (the server's CPU);
//  - "sessions-targets": the ratios, KeepAlive's CPU at the same liveness
//    taken from its CPU per renewal (a 2-core machine cannot also drive
//    `leases` / window renewals a second).
// On a cluster target, only the handover of a killed node's sessions
// (bench/session_handover.h): the phases above are a node's own, which the
// standalone registryd measures, and a million instances through etcd
// would take minutes before anything of the cluster's is measured.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "bench/scenarios.h"
#include "bench/session_detection.h"
#include "bench/session_handover.h"
#include "bench/session_streams.h"

namespace registryd::bench {
namespace {

constexpr uint32_t kBenchTtlMs = 600'000;  // the native leases outlive the run
constexpr int kServices = 100;             // as the other scenarios' registrations
constexpr uint32_t kSingleSessionTtlMs = 10'000;

double Seconds(std::chrono::nanoseconds duration) { return std::chrono::duration<double>(duration).count(); }

// Runs `factory` as phase `name` with the server's CPU from the end of the
// warm-up (a session's first exchange in a run opens or resumes it, which the
// steady state does not pay) and its memory growth per call.
Phase Measure(const std::string& name, const CallFactory& factory, LoadOptions load, pid_t pid) {
  double cpu_at_start = ProcessCpuSeconds(pid);
  load.on_measuring = [&] { cpu_at_start = ProcessCpuSeconds(pid); };
  const uint64_t rss_before = ProcessRssBytes(pid);
  Phase phase{name, RunLoad(factory, load), {}, {}, {}};
  phase.cpu_seconds = ProcessCpuSeconds(pid) - cpu_at_start;
  phase.peak_rss = ProcessPeakRssBytes(pid);
  phase.figures.emplace_back("rss_growth_per_call_bytes",
                             (static_cast<double>(ProcessRssBytes(pid)) - static_cast<double>(rss_before)) /
                                 std::max<double>(static_cast<double>(phase.load.calls), 1));
  return phase;
}

double CpuPerCall(const Phase& phase) {
  return phase.cpu_seconds.value_or(0) / std::max<double>(static_cast<double>(phase.load.calls), 1);
}

double Figure(const Phase& phase, const std::string& name) {
  for (const auto& [figure, value] : phase.figures) {
    if (figure == name) return value;
  }
  return 0;
}

void AddInstance(registry::v1::SessionRequest& request, const std::string& service, const std::string& id,
                 uint64_t port_of) {
  auto* instance = request.mutable_register_()->add_instances();
  instance->set_service(service);
  instance->set_instance_id(id);
  instance->set_address("10.0.0.1:" + std::to_string(1000 + port_of % 60000));  // as the native backend's
}

registry::v1::SessionRequest RegisterOne(const std::string& service, const std::string& id, uint64_t port_of) {
  registry::v1::SessionRequest request;
  AddInstance(request, service, id, port_of);
  return request;
}

// Instances [first, first + count) of the run, in one request.
registry::v1::SessionRequest RegisterBatch(uint64_t first, uint64_t count) {
  registry::v1::SessionRequest request;
  for (uint64_t sequence = first; sequence < first + count; ++sequence) {
    AddInstance(request, BenchServiceName(static_cast<int>(sequence % kServices)), "instance-" + std::to_string(sequence),
                sequence);
  }
  return request;
}

registry::v1::SessionRequest KeepAlive() {
  registry::v1::SessionRequest request;
  request.mutable_keep_alive();
  return request;
}

// A closed loop of `calls` operations (at most one per session in flight).
LoadOptions ClosedLoop(const LoadOptions& load, size_t calls, size_t sessions) {
  LoadOptions closed = load;
  closed.rate = 0;
  closed.rate_steps.clear();
  closed.warmup = {};
  closed.duration = std::chrono::hours(24);
  closed.max_calls = calls;
  closed.concurrency = static_cast<int>(std::min<size_t>(static_cast<size_t>(load.concurrency), sessions));
  return closed;
}

// `sessions` refreshes per `window`, each session once, after a warm-up of
// one and a half windows (every session's stream opened again).
LoadOptions Steady(const LoadOptions& load, size_t sessions, std::chrono::nanoseconds window) {
  LoadOptions steady = load;
  steady.rate = static_cast<double>(sessions) / Seconds(window);
  steady.rate_steps.clear();
  steady.max_calls = 0;
  steady.warmup = window * 3 / 2;
  steady.duration = std::max(load.duration, window);
  return steady;
}

class SessionsScenario final : public Scenario {
 public:
  explicit SessionsScenario(const ScenarioOptions& options) : options_(options) {}

  std::vector<Phase> Run(const Target& target, const LoadOptions& load) override {
    if (target.kill_node) return MeasureSessionHandover(target, options_);
    if (!target.pid || !target.spawn_another) throw std::runtime_error("sessions needs a registryd the bench starts");
    std::vector<Phase> phases;
    phases.push_back(MeasureSessionDetection(target, ClientFault::kKill, Count(options_.detection_sessions),
                                             options_.detection_ttl));
    phases.push_back(MeasureSessionDetection(target, ClientFault::kStop, Count(options_.detection_sessions),
                                             options_.detection_ttl));
    Compare(target, load, &phases);
    InSessions(target, load, &phases);
    phases.push_back(Targets(phases));
    return phases;
  }

 private:
  static size_t Count(int value) { return static_cast<size_t>(std::max(value, 1)); }
  // The sessions that hold `leases` instances, `session_size` each.
  size_t SessionsOfSize() const {
    return (Count(options_.leases) + Count(options_.session_size) - 1) / Count(options_.session_size);
  }

  // Native leases, KeepAlive and sessions of one instance on a fresh registryd.
  void Compare(const Target& target, const LoadOptions& load, std::vector<Phase>* phases) const {
    const std::unique_ptr<SpawnedServer> server = target.spawn_another();
    Connections connections(*target.channels, server->address(), options_.channels);
    if (!connections.WaitConnected()) throw std::runtime_error("cannot connect to the fresh registryd");
    const std::unique_ptr<Backend> backend = MakeRegistrydBackend(Api::kNative, connections);
    const auto instances = Count(options_.leases);
    std::vector<uint64_t> leases(instances);
    phases->push_back(Measure(
        "register",
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          return backend->StartRegister(sequence, cq,
                                        {BenchServiceName(static_cast<int>(sequence % kServices)), sequence, kBenchTtlMs},
                                        &leases[sequence]);
        },
        ClosedLoop(load, instances, instances), server->pid()));

    const size_t singles = std::min(Count(options_.single_sessions), instances);
    const std::chrono::seconds second(1);
    // One KeepAlive stream per renewed lease, as one per server, and as many
    // streams as the sessions compared hold: gRPC's cost per completion grows
    // with the streams open (PERFORMANCE.md, Sessions).
    backend->set_min_streams(singles);
    LoadOptions renewals = Steady(load, singles, second);
    renewals.close_streams = [&](grpc::CompletionQueue* cq) { return backend->CloseStreams(cq); };
    phases->push_back(Measure(
        "keepalive",
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          return backend->StartStreamHeartbeat(sequence, cq, leases[sequence % singles]);
        },
        renewals, server->pid()));

    // KeepAlive at the message rate of the sessions' steady state: a message
    // costs more when fewer arrive together (a wake and two syscalls each).
    const size_t sessions_of_size = SessionsOfSize();
    backend->set_min_streams(sessions_of_size);
    LoadOptions slow = Steady(load, sessions_of_size, options_.session_window);
    slow.close_streams = renewals.close_streams;
    phases->push_back(Measure(
        "keepalive-slow",
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          return backend->StartStreamHeartbeat(sequence, cq, leases[sequence % instances]);
        },
        slow, server->pid()));

    // The TTL leaves room for a slow round of resumes when a run's streams
    // are opened again; the cost is the refresh rate's, whatever the TTL.
    SessionStreams sessions(connections, singles, kSingleSessionTtlMs, std::nullopt);
    LoadOptions opening = ClosedLoop(load, singles, singles);
    opening.close_streams = [&](grpc::CompletionQueue* cq) { return sessions.Close(cq); };
    const LoadResult opened = RunLoad(
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          return sessions.Start(sequence, cq, RegisterOne("bench-single", "single-" + std::to_string(sequence), sequence));
        },
        opening);
    if (!opened.errors.empty()) throw std::runtime_error("opening the sessions of one instance failed");
    LoadOptions refreshes = Steady(load, singles, second);
    refreshes.close_streams = opening.close_streams;
    phases->push_back(Measure(
        "session1-refresh",
        [&](uint64_t sequence, grpc::CompletionQueue* cq) { return sessions.Start(sequence % singles, cq, KeepAlive()); },
        refreshes, server->pid()));
  }

  // The same instances in sessions of `session_size` on the target.
  void InSessions(const Target& target, const LoadOptions& load, std::vector<Phase>* phases) const {
    Connections connections(*target.channels, target.address, options_.channels);
    if (!connections.WaitConnected()) throw std::runtime_error("cannot connect to registryd");
    const size_t instances = Count(options_.leases);
    const size_t count = SessionsOfSize();
    const auto ttl_ms = static_cast<uint32_t>(3 * std::chrono::duration_cast<std::chrono::milliseconds>(options_.session_window).count());
    SessionStreams sessions(connections, count, ttl_ms, std::nullopt);
    const auto close = [&](grpc::CompletionQueue* cq) { return sessions.Close(cq); };
    // Round-robin over the sessions, so that each is refreshed all along;
    // `session_batch` instances a request (a call of the phase).
    const size_t batch = Count(options_.session_batch);
    const size_t requests = (instances + batch - 1) / batch;
    LoadOptions registering = ClosedLoop(load, requests, count);
    registering.close_streams = close;
    Phase registered = Measure(
        "session-register",
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          const uint64_t first = sequence * batch;
          return sessions.Start(sequence % count, cq, RegisterBatch(first, std::min<uint64_t>(batch, instances - first)));
        },
        registering, *target.pid);
    registered.figures.emplace_back("instances_per_request", static_cast<double>(batch));
    phases->push_back(std::move(registered));
    LoadOptions steady = Steady(load, count, options_.session_window);
    steady.close_streams = close;
    Phase refresh = Measure(
        "session-refresh",
        [&](uint64_t sequence, grpc::CompletionQueue* cq) { return sessions.Start(sequence % count, cq, KeepAlive()); },
        steady, *target.pid);
    refresh.figures.emplace_back("sessions", static_cast<double>(count));
    refresh.figures.emplace_back("instances", static_cast<double>(instances));
    phases->push_back(std::move(refresh));
  }

  // The targets as ratios of the phases above.
  Phase Targets(const std::vector<Phase>& phases) const {
    const auto find = [&](const std::string& name) -> const Phase& {
      for (const Phase& phase : phases) {
        if (phase.name == name) return phase;
      }
      throw std::logic_error("no phase " + name);
    };
    const Phase& kill = find("session-detect-kill");
    const Phase& stop = find("session-detect-stop");
    const Phase& registered = find("register");
    const Phase& keepalive = find("keepalive");
    const Phase& keepalive_slow = find("keepalive-slow");
    const Phase& single = find("session1-refresh");
    const Phase& in_sessions = find("session-register");
    const Phase& refresh = find("session-refresh");
    const double instances = static_cast<double>(Count(options_.leases));
    const double batch = static_cast<double>(Count(options_.session_batch));
    const double steady_cores = refresh.cpu_seconds.value_or(0) / std::max(refresh.load.seconds, 1e-9);
    const double keepalive_cores = CpuPerCall(keepalive) * instances / Seconds(options_.session_window);
    Phase targets{"sessions-targets", {}, {}, {}, {}};
    targets.figures = {
        {"steady_server_cores", steady_cores},
        {"keepalive_cores_at_same_liveness", keepalive_cores},
        {"steady_vs_keepalive", steady_cores / std::max(keepalive_cores, 1e-9)},
        {"refresh_vs_keepalive_at_the_same_rate_cpu", CpuPerCall(refresh) / std::max(CpuPerCall(keepalive_slow), 1e-12)},
        {"rss_per_instance_vs_register", Figure(in_sessions, "rss_growth_per_call_bytes") / batch /
                                             std::max(Figure(registered, "rss_growth_per_call_bytes"), 1e-9)},
        {"single_session_refresh_vs_keepalive_cpu", CpuPerCall(single) / std::max(CpuPerCall(keepalive), 1e-12)},
        {"session_register_vs_register_throughput",  // instances a second
         in_sessions.load.CallsPerSecond() * batch / std::max(registered.load.CallsPerSecond(), 1e-9)},
        {"detect_kill_p99_ms", kill.load.PercentileUs(0.99) / 1000},
        {"detect_stop_p99_past_ttl_ms", stop.load.PercentileUs(0.99) / 1000},
    };
    return targets;
  }

  ScenarioOptions options_;
};

}  // namespace

std::unique_ptr<Scenario> MakeSessionsScenario(const ScenarioOptions& options) {
  return std::make_unique<SessionsScenario>(options);
}

}  // namespace registryd::bench
