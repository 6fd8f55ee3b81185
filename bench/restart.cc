// restart: how long registryd takes to come back with what it held. Registers
// `leases` instances (a million by default), stops registryd with SIGTERM
// (it writes a snapshot) and starts it again on the same data dir and port,
// then renews `restart_heartbeats` of the leases from before: each must still
// be there (an error otherwise). Reports the stop and the start (until it
// listens, its data restored) in seconds. registryd started by the bench only.
#include <algorithm>
#include <chrono>

#include "bench/scenarios.h"
#include "bench/spawned_server.h"

namespace registryd::bench {
namespace {

class RestartScenario final : public Scenario {
 public:
  explicit RestartScenario(const ScenarioOptions& options) : options_(options) {}

  std::vector<Phase> Run(const Target& target, const LoadOptions& load) override {
    std::vector<uint64_t> leases(static_cast<size_t>(options_.leases));
    Phase registered{"restart-register", RegisterAll(target, &leases, 100, load.concurrency, 0), {}, {}, {}};
    if (target.pid) registered.peak_rss = ProcessPeakRssBytes(*target.pid);

    const Restarted restarted = target.restart();
    Target after = target;
    after.pid = restarted.pid;
    // Renew leases from before the restart, spread over all of them.
    const size_t renewed = std::min(leases.size(), static_cast<size_t>(std::max(1, options_.restart_heartbeats)));
    const size_t stride = std::max<size_t>(1, leases.size() / renewed);
    LoadOptions once = load;
    once.warmup = std::chrono::seconds(0);
    once.rate = 0;
    once.duration = std::chrono::minutes(10);  // max_calls ends it
    once.max_calls = renewed;
    Phase heartbeats = MeasurePhase(
        "restart-heartbeat",
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          return target.backend->StartHeartbeat(sequence, cq, leases[(sequence * stride) % leases.size()]);
        },
        once, after);
    heartbeats.figures.emplace_back("instances", static_cast<double>(leases.size()));
    heartbeats.figures.emplace_back("stop_seconds", restarted.stop_seconds);
    heartbeats.figures.emplace_back("start_seconds", restarted.start_seconds);
    return {std::move(registered), std::move(heartbeats)};
  }

 private:
  ScenarioOptions options_;
};

}  // namespace

std::unique_ptr<Scenario> MakeRestartScenario(const ScenarioOptions& options) {
  return std::make_unique<RestartScenario>(options);
}

}  // namespace registryd::bench
