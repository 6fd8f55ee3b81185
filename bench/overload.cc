// overload: registryd pushed past what it can answer, and back, with leases
// whose clients never stop. Is any of them lost, and how soon after the load
// drops is every renewal answered in time again?
//
// registryd shares its CPU with a noisy neighbour (bench/busy_neighbour.h)
// that leaves it about a quarter of it, then for the middle step about a
// twentieth, then a quarter again: the same offered load is half, then about
// twice what it can answer.
// (Offering twice the capacity from the client instead does not work on a
// machine of two cores: gRPC's client costs about what its server does per
// call, so the bench's one CPU cannot offer twice what the server's answers.)
//
// Capacity is counted in the server's CPU, measured in this run: the share of
// a CPU the neighbour leaves it (S, S'), from closed-loop heartbeats that keep
// it busy, over what one renewal costs it (c), from an open loop at a quarter
// of the closed loop's rate with the renewals' deadline. (A closed loop's
// calls come in batches and cost it less, 0.4-0.65 as much in most runs:
// 0.5 of the closed loop's rate made the first step 0.4 to 0.85 of the
// server's CPU, and one run in twenty started overloaded.)
//
// 1. capacity: S, c and S', in this run.
// 2. N leases with TTL T, where N renewals every T/3 cost 0.5 S: each lease
//    renewed by an open loop on its own schedule (every T/3, staggered) with a
//    T/3 deadline, for the whole run.
// 3. Steps: S (0.5 of it offered), S' (about 2x, reported), S again.
// 4. c again once the last step's renewals ended (`cost_over_calibration`):
//    well above 1, the last step may have offered more than half of what
//    the server could answer then.
//
// Reports per step the leases' renewals (latency, errors) and how much of its
// share the server used (`utilisation`, measured), and at the end the leases
// lost (NOT_FOUND to a client that never stopped), the time after the drop
// until every renewal was answered within its deadline again, and the
// server's expired count. `overload-reregister` registers a lost lease again
// at its next renewal, as `registryctl keep` does.
#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <fmt/core.h>

#include "absl/cleanup/cleanup.h"
#include "bench/busy_neighbour.h"
#include "bench/scenarios.h"
#include "bench/spawned_server.h"

namespace registryd::bench {
namespace {

constexpr auto kCapacityWarmup = std::chrono::seconds(1);
constexpr auto kCapacityProbe = std::chrono::seconds(3);
constexpr int kProbeLeases = 2000;
constexpr uint64_t kPopulationFirstInstance = 5'000'000;
constexpr uint64_t kBackgroundFirstInstance = 9'000'000;
constexpr char kPopulationService[] = "overload";
// The neighbour's share of the server's CPU: outside the middle step, and in
// it. What is left (nice 19 runs a little beside a busy neighbour) measured
// 0.23-0.27 and 0.05-0.06 of a CPU on a 2-core VM.
constexpr double kNeighbourBusy = 0.75;
constexpr double kNeighbourBusyOverloaded = 0.975;

double Seconds(std::chrono::nanoseconds duration) { return std::chrono::duration<double>(duration).count(); }

// The server's CPU per call over a phase.
double CostPerCall(const Phase& phase) {
  return phase.cpu_seconds.value_or(0) / std::max(static_cast<double>(phase.load.calls), 1.0);
}

// The share of a CPU the server used over a phase.
double ShareOf(const Phase& phase) {
  return phase.load.seconds > 0 ? phase.cpu_seconds.value_or(0) / phase.load.seconds : 0;
}

class OverloadScenario final : public Scenario {
 public:
  OverloadScenario(const ScenarioOptions& options, bool reregister) : options_(options), reregister_(reregister) {}

  std::vector<Phase> Run(const Target& target, const LoadOptions& load) override {
    std::vector<Phase> phases;
    std::vector<uint64_t> background(kProbeLeases);  // long TTLs: only the probes renew them
    RegisterAll(target, &background, 10, load.concurrency, kBackgroundFirstInstance);

    LoadOptions probe = load;
    probe.warmup = kCapacityWarmup;
    probe.duration = kCapacityProbe;
    probe.rate = 0;
    probe.rate_steps.clear();
    const auto probe_calls = [&](uint64_t sequence, grpc::CompletionQueue* cq) {
      return target.backend->StartHeartbeat(sequence, cq, background[sequence % background.size()]);
    };
    const std::chrono::nanoseconds ttl = options_.overload_ttl;
    const std::chrono::nanoseconds period = ttl / 3;
    BusyNeighbour neighbour(target.server_cpus, kNeighbourBusy);
    phases.push_back(MeasurePhase("overload-capacity", probe_calls, probe, target));
    LoadOptions calibration = probe;
    calibration.rate = phases.back().load.CallsPerSecond() / 4;
    calibration.call_timeout = period;
    calibration.start_granularity = std::chrono::milliseconds(1);
    phases.push_back(MeasurePhase("overload-calibration", probe_calls, calibration, target));
    neighbour.set_busy(kNeighbourBusyOverloaded);
    phases.push_back(MeasurePhase("overload-capacity-overloaded", probe_calls, probe, target));
    neighbour.set_busy(kNeighbourBusy);
    const double cost = CostPerCall(phases[1]);
    const double share = ShareOf(phases[0]);
    const double share_overloaded = ShareOf(phases[2]);
    if (!target.pid || cost <= 0 || share <= 0 || share_overloaded <= 0) {
      throw std::runtime_error("overload: the server's CPU was not measured (it needs --spawn)");
    }
    const double rate = share / cost / 2;
    const auto leases = static_cast<size_t>(std::llround(rate * Seconds(period)));
    if (leases == 0) throw std::runtime_error("overload: no capacity measured");
    phases.front().figures.emplace_back("leases", static_cast<double>(leases));
    phases.front().figures.emplace_back("open_loop_capacity", share / cost);
    phases[2].figures.emplace_back("open_loop_capacity", share_overloaded / cost);

    population_.assign(leases, 0);
    // Setup, not measured: with the neighbour quiet, so that the backlog the
    // overloaded probe left does not get the registrations' connections
    // reset (--shed-unread-after) and fail the run with UNAVAILABLE.
    neighbour.set_busy(0);
    RegisterAll(target, &population_, load.concurrency,
                [&](uint64_t index) { return PopulationRegistration(index); });
    neighbour.set_busy(kNeighbourBusy);
    lost_.assign(leases, 0);
    lost_ever_.assign(leases, 0);

    const auto& steps = options_.overload_steps;
    // The N leases' renewals, the whole time.
    LoadOptions renewals;
    renewals.concurrency = 1'000'000;
    renewals.keep_samples = true;
    renewals.call_timeout = period;
    renewals.start_granularity = std::chrono::milliseconds(1);
    renewals.rate_steps = {{steps[0] + steps[1] + steps[2], rate}};
    renewals.on_done = [&](const PendingCall& call) { OnRenewalDone(call); };

    const double expired_before = target.server_metric("registryd_expirations_total").value_or(0);
    // The neighbour takes more for the middle step.
    std::mutex neighbour_mu;
    std::condition_variable neighbour_wake;
    bool finished = false;
    // The server's CPU at the start and at each step's end (the renewals
    // last all three steps, so the neighbour's thread marks both ends).
    std::array<double, 4> cpu_marks{};
    const auto server_cpu = [&] { return ProcessCpuSeconds(*target.pid); };
    cpu_marks[0] = server_cpu();
    std::exception_ptr neighbour_failure;  // reading the server's CPU throws once it is gone
    std::thread neighbour_thread([&] {
      try {
        std::unique_lock<std::mutex> lock(neighbour_mu);
        const Clock::time_point begin = Clock::now();
        if (neighbour_wake.wait_until(lock, begin + steps[0], [&] { return finished; })) return;
        cpu_marks[1] = server_cpu();
        neighbour.set_busy(kNeighbourBusyOverloaded);
        if (neighbour_wake.wait_until(lock, begin + steps[0] + steps[1], [&] { return finished; })) return;
        cpu_marks[2] = server_cpu();
        neighbour.set_busy(kNeighbourBusy);
      } catch (...) {
        neighbour_failure = std::current_exception();
      }
    });
    LoadResult all;
    {
      // However the load ends, the step thread stops first (a joinable
      // thread's destructor would end the bench).
      absl::Cleanup stop_neighbour = [&] {
        {
          std::lock_guard<std::mutex> lock(neighbour_mu);
          finished = true;
        }
        neighbour_wake.notify_all();
        neighbour_thread.join();
      };
      all = RunLoad([&](uint64_t sequence, grpc::CompletionQueue* cq) { return StartRenewal(target, sequence, cq); },
                    renewals);
    }
    if (neighbour_failure) std::rethrow_exception(neighbour_failure);
    cpu_marks[3] = server_cpu();

    // The steps, from the N leases' renewals.
    const double drop_s = Seconds(steps[0] + steps[1]);
    const std::array<std::pair<const char*, std::pair<double, double>>, 3> parts = {{
        {"overload-before", {0, Seconds(steps[0])}},
        {"overload-high", {Seconds(steps[0]), drop_s}},
        {"overload-after", {drop_s, drop_s + Seconds(steps[2])}},
    }};
    for (size_t step = 0; step < parts.size(); ++step) {
      const auto& [name, span] = parts[step];
      const auto [from, to] = span;
      Phase phase{name, all.Select([&](const Sample& sample) { return sample.start_s >= from && sample.start_s < to; },
                                   to - from),
                  {}, {}, {}};
      phase.cpu_seconds = cpu_marks[step + 1] - cpu_marks[step];
      phases.push_back(std::move(phase));
    }
    Phase& high = phases[phases.size() - 2];
    high.figures.emplace_back("offered_over_capacity", rate * cost / share_overloaded);
    phases[phases.size() - 3].figures.emplace_back("offered_over_capacity", rate * cost / share);
    Phase& after = phases.back();
    after.figures.emplace_back("leases_lost", static_cast<double>(std::count(lost_ever_.begin(), lost_ever_.end(), 1)));
    if (reregister_) after.figures.emplace_back("reregistered", static_cast<double>(reregistered_));
    after.figures.emplace_back("recovery_s", RecoverySeconds(all, drop_s));
    // The server's own view: what expired during the run (lost leases, and
    // nothing else: every lease here is renewed).
    if (const std::optional<double> expired = target.server_metric("registryd_expirations_total")) {
      after.figures.emplace_back("expired", *expired - expired_before);
    }
    if (const std::optional<double> late = target.server_metric("registryd_late_calls_total")) {
      after.figures.emplace_back("late_calls", *late);
    }
    if (const std::optional<double> holds = target.server_metric("registryd_expiry_holds_total")) {
      after.figures.emplace_back("expiry_holds", *holds);
      after.figures.emplace_back("longest_hold_s",
                                 target.server_metric("registryd_expiry_hold_longest_seconds").value_or(0));
    }
    // How much of the share the neighbour left it the server used in each
    // step: 0.5 in the first if the calibration held.
    for (size_t step = 0; step < parts.size(); ++step) {
      Phase& phase = phases[phases.size() - parts.size() + step];
      phase.figures.emplace_back("utilisation", ShareOf(phase) / (step == 1 ? share_overloaded : share));
    }
    // The calibration again, once the renewals still in the server's queues
    // have ended (within their deadline, and a second for what it reads
    // late). What a renewal costs the server moves on a shared machine (on
    // the VM of docs/PERFORMANCE.md by 2x and more for tens of seconds, with
    // the same calls and packets): a run whose renewals cost it much more
    // now than at the start may have offered its last step more than half of
    // what it could answer then.
    neighbour.set_busy(kNeighbourBusy);
    std::this_thread::sleep_for(period + std::chrono::seconds(1));
    Phase recalibrated = MeasurePhase("overload-calibration-after", probe_calls, calibration, target);
    if (recalibrated.load.calls > 0) {
      recalibrated.figures.emplace_back("cost_over_calibration", CostPerCall(recalibrated) / cost);
    }
    phases.push_back(std::move(recalibrated));
    return phases;
  }

 private:
  Registration PopulationRegistration(uint64_t index) const {
    return Registration{kPopulationService, kPopulationFirstInstance + index,
                        static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  options_.overload_ttl)
                                                  .count())};
  }

  // Lease `sequence % N` is due: its renewal, or (re-register variant) its
  // registration again when its last renewal found it gone.
  std::unique_ptr<PendingCall> StartRenewal(const Target& target, uint64_t sequence, grpc::CompletionQueue* cq) {
    const size_t index = sequence % population_.size();
    std::unique_ptr<PendingCall> call;
    if (reregister_ && lost_[index]) {
      lost_[index] = 0;
      ++reregistered_;
      call = target.backend->StartRegister(sequence, cq, PopulationRegistration(index), &population_[index]);
    } else {
      call = target.backend->StartHeartbeat(sequence, cq, population_[index]);
    }
    call->kind = static_cast<int>(index);
    return call;
  }

  void OnRenewalDone(const PendingCall& call) {
    if (call.status.error_code() != grpc::StatusCode::NOT_FOUND) return;
    lost_[static_cast<size_t>(call.kind)] = 1;
    lost_ever_[static_cast<size_t>(call.kind)] = 1;
  }

  // How long after the drop the last renewal that failed or missed its
  // deadline ended (0: none did).
  static double RecoverySeconds(const LoadResult& all, double drop_s) {
    double recovered = drop_s;
    for (const Sample& sample : all.samples) {
      if (sample.code == 0) continue;
      recovered = std::max(recovered, static_cast<double>(sample.start_s) + sample.latency_us / 1e6);
    }
    return recovered - drop_s;
  }

  ScenarioOptions options_;
  const bool reregister_;
  std::vector<uint64_t> population_;  // each lease's handle (a re-registration replaces it)
  std::vector<uint8_t> lost_;         // its last renewal got NOT_FOUND (not registered again yet)
  std::vector<uint8_t> lost_ever_;
  uint64_t reregistered_ = 0;
};

}  // namespace

std::unique_ptr<Scenario> MakeOverloadScenario(const ScenarioOptions& options, bool reregister) {
  return std::make_unique<OverloadScenario>(options, reregister);
}

}  // namespace registryd::bench
