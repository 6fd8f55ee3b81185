// expiry-storm: `storm_leases` leases with one deadline expire while
// heartbeats of `leases` other leases go on. Reports the heartbeat latency in
// the storm beside before it, and how long the storm took to clear (watched
// through ListServices). registryd only: the storm's leases are registered
// through the native API, each with the TTL left until the common deadline.
#include <atomic>
#include <stdexcept>
#include <thread>

#include <fmt/core.h>

#include "bench/scenarios.h"
#include "registry/v1/registry.grpc.pb.h"

namespace registryd::bench {
namespace {

constexpr char kStormService[] = "storm";
constexpr auto kAfterStorm = std::chrono::seconds(5);
constexpr double kSettleSeconds = 1.0;  // the start of the run, left out of "before"

// Polls the number of instances of the storm's service until it is zero:
// when the first of them went, and when the last did.
class StormWatch {
 public:
  StormWatch(const Target& target, uint32_t instances)
      : stub_(registry::v1::Registry::NewStub(Connections(*target.channels, target.address, 1).channels().front())),
        instances_(instances),
        thread_([this] { Poll(); }) {}
  ~StormWatch() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // Valid after Stop().
  std::optional<Clock::time_point> first_removal() const { return first_removal_; }
  std::optional<Clock::time_point> cleared() const { return cleared_; }

 private:
  void Poll() {
    while (!stop_) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      registry::v1::ListServicesResponse reply;
      if (stub_->ListServices(&context, {}, &reply).ok()) {
        uint32_t left = 0;
        for (const auto& service : reply.services()) {
          if (service.name() == kStormService) left = service.instances();
        }
        const Clock::time_point now = Clock::now();
        if (left < instances_ && !first_removal_) first_removal_ = now;
        if (left == 0) {
          cleared_ = now;
          return;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  std::unique_ptr<registry::v1::Registry::Stub> stub_;
  uint32_t instances_;
  std::atomic<bool> stop_ = false;
  std::optional<Clock::time_point> first_removal_;
  std::optional<Clock::time_point> cleared_;
  std::thread thread_;  // last: starts once the members above exist
};

class ExpiryStormScenario final : public Scenario {
 public:
  explicit ExpiryStormScenario(const ScenarioOptions& options) : options_(options) {}

  std::vector<Phase> Run(const Target& target, const LoadOptions& load) override {
    std::vector<uint64_t> leases(static_cast<size_t>(options_.leases));
    RegisterAll(target, &leases, 100, load.concurrency, 0);
    const Clock::time_point storm_at = RegisterStorm(target, load.concurrency);

    LoadOptions during = load;
    during.warmup = {};
    during.keep_samples = true;
    const Clock::time_point start = Clock::now();
    during.duration = storm_at + kAfterStorm - start;
    const double storm_s = std::chrono::duration<double>(storm_at - start).count();
    if (storm_s - 0.5 < kSettleSeconds + 1) {
      throw std::runtime_error("the storm's leases took too long to register: raise --storm-delay");
    }

    StormWatch watch(target, static_cast<uint32_t>(options_.storm_leases));
    Phase all = MeasurePhase(
        "expiry-storm",
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          return target.backend->StartHeartbeat(sequence, cq, leases[sequence % leases.size()]);
        },
        during, target);
    watch.Stop();
    if (!watch.cleared()) {
      throw std::runtime_error(fmt::format("the storm's instances were not all gone {} s after their deadline",
                                           std::chrono::seconds(kAfterStorm).count()));
    }
    return Split(std::move(all), start, storm_at, watch.first_removal(), *watch.cleared());
  }

 private:
  // Registers the storm's leases, all due at the returned instant.
  Clock::time_point RegisterStorm(const Target& target, int concurrency) {
    Connections connections(*target.channels, target.address, 1);
    std::unique_ptr<Backend> native = MakeRegistrydBackend(Api::kNative, connections);
    const Clock::time_point storm_at = Clock::now() + options_.storm_delay;
    std::vector<uint64_t> storm_leases(static_cast<size_t>(options_.storm_leases));
    bool too_late = false;
    LoadOptions options;
    options.concurrency = concurrency;
    options.max_calls = storm_leases.size();
    options.duration = std::chrono::hours(24);
    const LoadResult result = RunLoad(
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(storm_at - Clock::now());
          too_late |= left < std::chrono::seconds(1);  // registryd's shortest TTL
          const Registration registration{kStormService, 2'000'000'000 + sequence,
                                          static_cast<uint32_t>(std::max<int64_t>(left.count(), 1000))};
          return native->StartRegister(sequence, cq, registration, &storm_leases[sequence]);
        },
        options);
    if (too_late) throw std::runtime_error("the storm's leases took too long to register: raise --storm-delay");
    if (!result.errors.empty()) throw std::runtime_error("registering the storm's leases failed");
    return storm_at;
  }

  std::vector<Phase> Split(Phase all, Clock::time_point start, Clock::time_point storm_at,
                           std::optional<Clock::time_point> first_removal, Clock::time_point cleared) {
    const auto since_start = [&](Clock::time_point when) {
      return std::chrono::duration<double>(when - start).count();
    };
    const double storm_s = since_start(storm_at);
    const double clear_s = since_start(cleared) - storm_s;
    const double storm_end_s = storm_s + std::max(1.0, clear_s);
    Phase before{"storm-before",
                 all.load.Select([&](const Sample& sample) {
                   return sample.start_s >= kSettleSeconds && sample.start_s < storm_s - 0.5;
                 }, storm_s - 0.5 - kSettleSeconds),
                 {}, {}, {}};
    Phase during{"storm-during",
                 all.load.Select([&](const Sample& sample) {
                   return sample.start_s >= storm_s && sample.start_s < storm_end_s;
                 }, storm_end_s - storm_s),
                 {}, {}, {}};
    if (first_removal) during.figures.emplace_back("first_removal_after_deadline_s", since_start(*first_removal) - storm_s);
    during.figures.emplace_back("cleared_after_deadline_s", clear_s);
    during.figures.emplace_back("p99_during_over_before",
                                during.load.PercentileUs(0.99) / std::max(1.0, before.load.PercentileUs(0.99)));
    return {std::move(all), std::move(before), std::move(during)};
  }

  ScenarioOptions options_;
};

}  // namespace

std::unique_ptr<Scenario> MakeExpiryStormScenario(const ScenarioOptions& options) {
  return std::make_unique<ExpiryStormScenario>(options);
}

}  // namespace registryd::bench
