#include "bench/scenarios.h"

#include <cmath>
#include <deque>
#include <stdexcept>

#include "bench/spawned_server.h"

namespace registryd::bench {
namespace {

constexpr uint32_t kBenchTtlMs = 600'000;  // leases outlive any run

// N leases registered first, then heartbeats round-robin over them: unary
// calls, or (`keepalive`) exchanges on streams. As `scale`, the registration
// is a measured phase too, with the server's memory per lease.
class HeartbeatScenario final : public Scenario {
 public:
  enum class Kind { kHeartbeat, kKeepAlive, kScale };

  HeartbeatScenario(const ScenarioOptions& options, Kind kind)
      : options_(options), kind_(kind) {}

  std::vector<Phase> Run(const Target& target, const LoadOptions& load) override {
    std::vector<Phase> phases;
    std::vector<uint64_t> leases(static_cast<size_t>(options_.leases));
    const uint64_t rss_before = target.pid ? ProcessRssBytes(*target.pid) : 0;
    const double cpu_before = target.pid ? ProcessCpuSeconds(*target.pid) : 0;
    LoadResult registration = RegisterAll(target, &leases, 100, load.concurrency, 0);
    if (kind_ == Kind::kScale) {  // the registration is measured too
      Phase phase{"scale-register", std::move(registration), {}, {}, {}};
      if (target.pid) {
        phase.cpu_seconds = ProcessCpuSeconds(*target.pid) - cpu_before;
        phase.peak_rss = ProcessPeakRssBytes(*target.pid);
        const double grown = static_cast<double>(ProcessRssBytes(*target.pid)) - static_cast<double>(rss_before);
        phase.figures.emplace_back("rss_per_lease_bytes", grown / static_cast<double>(leases.size()));
      }
      if (target.store_bytes) phase.figures.emplace_back("etcd_db_bytes", static_cast<double>(target.store_bytes()));
      if (target.start_node) {
        const NodeStarted started = target.start_node();
        phase.figures.emplace_back("new_node_start_s", started.start_seconds);
        phase.figures.emplace_back("new_node_rss_bytes", static_cast<double>(started.rss_bytes));
      }
      phases.push_back(std::move(phase));
    }
    const char* name = kind_ == Kind::kScale ? "scale-heartbeat" : kind_ == Kind::kKeepAlive ? "keepalive" : "heartbeat";
    phases.push_back(MeasurePhase(
        name,
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          const uint64_t lease = leases[sequence % leases.size()];
          return kind_ == Kind::kKeepAlive ? target.backend->StartStreamHeartbeat(sequence, cq, lease)
                                           : target.backend->StartHeartbeat(sequence, cq, lease);
        },
        load, target));
    return phases;
  }

 private:
  ScenarioOptions options_;
  Kind kind_;
};

// Register churn with distinct instances: each call registers a new instance
// or deregisters the oldest of the last `leases` ones. The seed's contract has
// no deregistration: there, `leases` serverIds register in turn, each pass
// under another service, so every call moves a server (a removal and an
// addition).
class RegisterScenario final : public Scenario {
 public:
  explicit RegisterScenario(const ScenarioOptions& options) : options_(options) {}

  std::vector<Phase> Run(const Target& target, const LoadOptions& load) override {
    std::deque<uint64_t> live;      // registered, not yet deregistered
    std::deque<uint64_t> arriving;  // handles of registrations in flight, in order
    uint64_t seed_handle = 0;       // the seed's handle is the serverId: not kept
    const auto leases = static_cast<uint64_t>(options_.leases);
    Backend& backend = *target.backend;
    return {MeasurePhase(
        "register",
        [&](uint64_t sequence, grpc::CompletionQueue* cq) -> std::unique_ptr<PendingCall> {
          if (!backend.CanDeregister()) {
            return backend.StartRegister(
                sequence, cq, {BenchServiceName(static_cast<int>(sequence / leases % 100)), sequence % leases, 0},
                &seed_handle);
          }
          // Handles land in `arriving` when the reply comes; they join `live`
          // in order once filled (a handle is never 0).
          while (!arriving.empty() && arriving.front() != 0) {
            live.push_back(arriving.front());
            arriving.pop_front();
          }
          if (live.size() >= leases) {
            const uint64_t lease = live.front();
            live.pop_front();
            return backend.StartDeregister(sequence, cq, lease);
          }
          return backend.StartRegister(sequence, cq,
                                       {BenchServiceName(static_cast<int>(sequence % 100)), sequence, kBenchTtlMs},
                                       &arriving.emplace_back());
        },
        load, target)};
  }

 private:
  ScenarioOptions options_;
};

// S services of k instances; then discovery of the services in turn.
class DiscoverScenario final : public Scenario {
 public:
  DiscoverScenario(const ScenarioOptions& options, std::string name) : options_(options), name_(std::move(name)) {}

  std::vector<Phase> Run(const Target& target, const LoadOptions& load) override {
    std::vector<uint64_t> leases(static_cast<size_t>(options_.services) * options_.instances_per_service);
    RegisterAll(target, &leases, options_.services, load.concurrency, 1'000'000);
    return {MeasurePhase(
        name_,
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          return target.backend->StartDiscover(sequence, cq,
                                               BenchServiceName(static_cast<int>(sequence % options_.services)));
        },
        load, target)};
  }

 private:
  ScenarioOptions options_;
  std::string name_;
};

// A steady production-like load: `leases` instances each beating every
// `beat_interval`, plus discoveries at `discover_rate`, all in an open loop
// at their sum; latency reported per operation.
class MixedScenario final : public Scenario {
 public:
  explicit MixedScenario(const ScenarioOptions& options) : options_(options) {}

  std::vector<Phase> Run(const Target& target, const LoadOptions& load) override {
    enum Kind { kHeartbeat = 0, kDiscover = 1 };
    std::vector<uint64_t> leases(static_cast<size_t>(options_.leases));
    RegisterAll(target, &leases, options_.services, load.concurrency, 0);

    const double heartbeat_rate =
        options_.leases / std::chrono::duration<double>(options_.beat_interval).count();
    const double discover_share = options_.discover_rate / (heartbeat_rate + options_.discover_rate);
    LoadOptions mixed = load;
    mixed.rate = heartbeat_rate + options_.discover_rate;
    mixed.keep_samples = true;
    uint64_t next_lease = 0;
    Phase all = MeasurePhase(
        "mixed",
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          // Discoveries evenly among the heartbeats, at their share.
          const bool discover = std::floor(static_cast<double>(sequence + 1) * discover_share) >
                                std::floor(static_cast<double>(sequence) * discover_share);
          std::unique_ptr<PendingCall> call =
              discover ? target.backend->StartDiscover(
                             sequence, cq, BenchServiceName(static_cast<int>(sequence % options_.services)))
                       : target.backend->StartHeartbeat(sequence, cq, leases[next_lease++ % leases.size()]);
          call->kind = discover ? kDiscover : kHeartbeat;
          return call;
        },
        mixed, target);
    Phase heartbeats{"mixed-heartbeat",
                     all.load.Select([](const Sample& sample) { return sample.kind == kHeartbeat; },
                                     all.load.seconds),
                     {}, {}, {}};
    Phase discoveries{"mixed-discover",
                      all.load.Select([](const Sample& sample) { return sample.kind == kDiscover; },
                                      all.load.seconds),
                      {}, {}, {}};
    return {std::move(all), std::move(heartbeats), std::move(discoveries)};
  }

 private:
  ScenarioOptions options_;
};

}  // namespace

std::string BenchServiceName(int index) { return "bench-" + std::to_string(index); }

Phase MeasurePhase(const std::string& name, const CallFactory& factory, LoadOptions load, const Target& target) {
  load.close_streams = [&target](grpc::CompletionQueue* cq) { return target.backend->CloseStreams(cq); };
  const double cpu_before = target.pid ? ProcessCpuSeconds(*target.pid) : 0;
  const int64_t revision_before = target.store_revision ? target.store_revision() : 0;
  Phase phase{name, RunLoad(factory, load), {}, {}, {}};
  if (target.store_revision) {
    // Warm-up calls write too: per call of the whole phase.
    const double calls = static_cast<double>(phase.load.calls) * (1 + std::chrono::duration<double>(load.warmup).count() /
                                                                          std::max(phase.load.seconds, 1e-9));
    phase.figures.emplace_back("etcd_txns_per_call",
                               static_cast<double>(target.store_revision() - revision_before) / std::max(calls, 1.0));
  }
  if (target.pid) {
    // CPU over warm-up and measurement, scaled to the measured part: the
    // warm-up share is small and the same for every target.
    const double warmup = std::chrono::duration<double>(load.warmup).count();
    phase.cpu_seconds =
        (ProcessCpuSeconds(*target.pid) - cpu_before) * phase.load.seconds / (phase.load.seconds + warmup);
    phase.peak_rss = ProcessPeakRssBytes(*target.pid);
  }
  return phase;
}

LoadResult RegisterAll(const Target& target, std::vector<uint64_t>* leases, int concurrency,
                       const std::function<Registration(uint64_t index)>& registration) {
  if (leases->empty()) return {};
  LoadOptions options;
  options.concurrency = concurrency;
  options.max_calls = leases->size();
  options.duration = std::chrono::hours(24);
  options.close_streams = [&target](grpc::CompletionQueue* cq) { return target.backend->CloseStreams(cq); };
  LoadResult result = RunLoad(
      [&](uint64_t sequence, grpc::CompletionQueue* cq) {
        return target.backend->StartRegister(sequence, cq, registration(sequence), &(*leases)[sequence]);
      },
      options);
  if (!result.errors.empty() || result.calls != leases->size()) {
    throw std::runtime_error("registering the scenario's instances failed (status " +
                             std::to_string(result.errors.empty() ? 0 : result.errors.begin()->first) + ")");
  }
  return result;
}

LoadResult RegisterAll(const Target& target, std::vector<uint64_t>* leases, int services, int concurrency,
                       uint64_t first_instance) {
  return RegisterAll(target, leases, concurrency, [&](uint64_t index) {
    return Registration{BenchServiceName(static_cast<int>(index % services)), first_instance + index, kBenchTtlMs};
  });
}

std::unique_ptr<Scenario> MakeScenario(const std::string& name, const ScenarioOptions& options,
                                       const Target& target) {
  using Kind = HeartbeatScenario::Kind;
  if (name == "heartbeat") return std::make_unique<HeartbeatScenario>(options, Kind::kHeartbeat);
  if (name == "scale") return std::make_unique<HeartbeatScenario>(options, Kind::kScale);
  // The seed contract has no stream.
  if (name == "keepalive" && target.api != Api::kSeed) {
    return std::make_unique<HeartbeatScenario>(options, Kind::kKeepAlive);
  }
  if (name == "register") return std::make_unique<RegisterScenario>(options);
  if (name == "mixed") return std::make_unique<MixedScenario>(options);
  if (name == "discover" && target.api != Api::kSeed) return std::make_unique<DiscoverScenario>(options, name);
  if (name == "find" && target.api != Api::kNative) return std::make_unique<DiscoverScenario>(options, name);
  if (name == "expiry-storm" && target.name == "registryd") return MakeExpiryStormScenario(options);
  if (name == "watch" && target.api == Api::kNative) {
    return MakeWatchFanoutScenario(options);
  }
  // etcd has no ADS.
  if (name == "xds" && target.api == Api::kNative && target.name != "etcd") {
    return MakeXdsFanoutScenario(options);
  }
  if (name == "restart" && target.name == "registryd" && target.restart) return MakeRestartScenario(options);
  // Leases with a TTL of the bench's choosing: the native API's.
  if ((name == "overload" || name == "overload-reregister") && target.api == Api::kNative && target.name != "etcd") {
    return MakeOverloadScenario(options, name == "overload-reregister");
  }
  // Sessions and the comparisons it starts a registryd of its own for.
  // On a cluster target, the handover of a killed node's sessions.
  if (name == "sessions" && target.api == Api::kNative && (target.spawn_another || target.kill_node)) {
    return MakeSessionsScenario(options);
  }
  return nullptr;
}

}  // namespace registryd::bench
