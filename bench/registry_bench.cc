// registry_bench: how users size registryd, and how every speed claim is
// measured. An asynchronous completion-queue client drives one scenario
// through one API against registryd and, in the same invocation, against the
// comparison targets, and reports each one's figures and the ratios.
//
//   registry_bench --spawn build/src/registryd --compare ceiling
//                  --scenario heartbeat --api seed --duration 10s
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "absl/time/time.h"
#include "bench/load_driver.h"
#include "bench/scenarios.h"
#include "bench/spawned_server.h"

namespace registryd::bench {
namespace {

struct BenchOptions {
  std::string target;
  std::string spawn;
  std::string ceiling;  // path of registry_ceiling
  std::vector<std::string> compare;
  std::vector<std::string> scenarios = {"heartbeat"};
  std::string api = "native";
  std::string server_cpus = "0";
  std::string client_cpus = "1";
  int channels = 4;
  bool json = false;
  ScenarioOptions scenario;
  LoadOptions load;
};

struct Run {
  std::string target;
  std::string scenario;
  std::string api;
  LoadResult load;
  std::optional<double> cpu_seconds;
  std::optional<uint64_t> peak_rss;
};

int CountCpus(const std::string& list) {
  int count = 0;
  std::stringstream parts(list);
  std::string part;
  while (std::getline(parts, part, ',')) {
    const size_t dash = part.find('-');
    count += dash == std::string::npos ? 1 : std::stoi(part.substr(dash + 1)) - std::stoi(part.substr(0, dash)) + 1;
  }
  return count;
}

void PinTo(const std::string& list) {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::stringstream parts(list);
  std::string part;
  while (std::getline(parts, part, ',')) {
    const size_t dash = part.find('-');
    const int first = std::stoi(part.substr(0, dash));
    const int last = dash == std::string::npos ? first : std::stoi(part.substr(dash + 1));
    for (int cpu = first; cpu <= last; ++cpu) CPU_SET(cpu, &set);
  }
  sched_setaffinity(0, sizeof(set), &set);
}

std::string SelfDirectory() { return std::filesystem::read_symlink("/proc/self/exe").parent_path(); }

// Runs one scenario against one target (an address, or a process we spawn).
Run Measure(const BenchOptions& options, const std::string& target_name, const std::string& scenario_name,
            const std::optional<std::vector<std::string>>& spawn_command, const std::string& address) {
  std::optional<SpawnedServer> server;
  if (spawn_command) server.emplace(options.server_cpus, *spawn_command);
  Connections connections(server ? server->address() : address, options.channels);
  if (!connections.WaitConnected()) throw std::runtime_error("cannot connect to " + target_name);

  ScenarioOptions scenario_options = options.scenario;
  scenario_options.api = options.api == "seed" ? Api::kSeed : Api::kNative;
  std::unique_ptr<Scenario> scenario = MakeScenario(scenario_name, scenario_options);
  if (!scenario) throw std::runtime_error("scenario " + scenario_name + " does not exist for --api " + options.api);
  if (!scenario->Setup(connections)) throw std::runtime_error(target_name + ": setup calls failed");

  const double cpu_before = server ? ProcessCpuSeconds(server->pid()) : 0;
  Run run{target_name, scenario_name, options.api, RunLoad(scenario->Calls(connections), options.load), {}, {}};
  if (server) {
    // CPU over warm-up and measurement, per measured call: the warm-up share
    // is small and the same for every target.
    run.cpu_seconds = (ProcessCpuSeconds(server->pid()) - cpu_before) * run.load.seconds /
                      (run.load.seconds + std::chrono::duration<double>(options.load.warmup).count());
    run.peak_rss = ProcessPeakRssBytes(server->pid());
  }
  return run;
}

std::string ErrorsText(const LoadResult& load) {
  std::string text;
  for (const auto& [code, count] : load.errors) {
    text += fmt::format("{}{}:{}", text.empty() ? "" : ",", code, count);
  }
  return text.empty() ? "0" : text;
}

double CpuPerMillion(const Run& run) {
  return run.cpu_seconds && run.load.calls > 0 ? *run.cpu_seconds * 1e6 / static_cast<double>(run.load.calls) : 0;
}

void PrintTableHeader() {
  fmt::print("{:<10} {:<10} {:<6} {:>10} {:>8} {:>8} {:>8} {:>9} {:>12} {:>10} {}\n", "target", "scenario",
             "api", "calls/s", "p50 us", "p90 us", "p99 us", "p99.9 us", "cpu s/Mcall", "peak RSS", "errors");
}

void PrintRow(const Run& run) {
  fmt::print("{:<10} {:<10} {:<6} {:>10.0f} {:>8.0f} {:>8.0f} {:>8.0f} {:>9.0f} {:>12} {:>10} {}\n", run.target,
             run.scenario, run.api, run.load.CallsPerSecond(), run.load.PercentileUs(0.5),
             run.load.PercentileUs(0.9), run.load.PercentileUs(0.99), run.load.PercentileUs(0.999),
             run.cpu_seconds ? fmt::format("{:.2f}", CpuPerMillion(run)) : "-",
             run.peak_rss ? fmt::format("{:.1f} MB", *run.peak_rss / 1e6) : "-", ErrorsText(run.load));
}

void PrintJson(const Run& run) {
  std::string errors;
  for (const auto& [code, count] : run.load.errors) {
    errors += fmt::format("{}\"{}\":{}", errors.empty() ? "" : ",", code, count);
  }
  fmt::print(
      "{{\"target\":\"{}\",\"scenario\":\"{}\",\"api\":\"{}\",\"ops\":{},\"ops_per_s\":{:.1f},"
      "\"p50_us\":{:.0f},\"p90_us\":{:.0f},\"p99_us\":{:.0f},\"p999_us\":{:.0f},\"errors\":{{{}}}",
      run.target, run.scenario, run.api, run.load.calls, run.load.CallsPerSecond(), run.load.PercentileUs(0.5),
      run.load.PercentileUs(0.9), run.load.PercentileUs(0.99), run.load.PercentileUs(0.999), errors);
  if (run.cpu_seconds) fmt::print(",\"server_cpu_s_per_million_ops\":{:.3f}", CpuPerMillion(run));
  if (run.peak_rss) fmt::print(",\"server_peak_rss_bytes\":{}", *run.peak_rss);
  fmt::print("}}\n");
}

void PrintRatios(const Run& registryd, const Run& other) {
  const double throughput = registryd.load.CallsPerSecond() / std::max(other.load.CallsPerSecond(), 1e-9);
  std::string line = fmt::format("ratio {}/{}: throughput {:.2f}x", registryd.target, other.target, throughput);
  if (registryd.cpu_seconds && other.cpu_seconds && CpuPerMillion(other) > 0) {
    line += fmt::format(", cpu per call {:.2f}x", CpuPerMillion(registryd) / CpuPerMillion(other));
  }
  fmt::print("{}\n", line);
}

std::chrono::nanoseconds ParseDuration(const std::string& text) {
  absl::Duration parsed;
  if (!absl::ParseDuration(text, &parsed) || parsed < absl::ZeroDuration()) {
    throw CLI::ValidationError(text, "expected a duration such as 10s or 500ms");
  }
  return absl::ToChronoNanoseconds(parsed);
}

int Main(int argc, char** argv) {
  BenchOptions options;
  std::string duration = "10s";
  std::string warmup = "2s";
  CLI::App app{"registry_bench: throughput and latency of registryd, beside the gRPC ceiling"};
  app.add_option("--target", options.target, "Address of a running registryd (instead of --spawn)");
  app.add_option("--spawn", options.spawn, "Path of registryd: start it pinned to --server-cpus, stop it after");
  app.add_option("--compare", options.compare, "Also measure: ceiling (constant-reply gRPC server)")
      ->delimiter(',')
      ->check(CLI::IsMember({"ceiling"}));
  app.add_option("--ceiling", options.ceiling, "Path of registry_ceiling (default: beside registry_bench)");
  app.add_option("--scenario", options.scenarios, "heartbeat, register, discover (native), find (seed)")
      ->delimiter(',')
      ->check(CLI::IsMember({"heartbeat", "register", "discover", "find"}))
      ->capture_default_str();
  app.add_option("--api", options.api, "native or seed")->check(CLI::IsMember({"native", "seed"}))->capture_default_str();
  app.add_option("--duration", duration, "Measured time")->capture_default_str();
  app.add_option("--warmup", warmup, "Unmeasured time before it")->capture_default_str();
  app.add_option("--concurrency", options.load.concurrency, "Calls in flight (closed loop)")->capture_default_str();
  app.add_option("--rate", options.load.rate, "Calls per second (open loop); 0 = as fast as possible")
      ->capture_default_str();
  app.add_option("--channels", options.channels, "TCP connections")->capture_default_str();
  app.add_option("--leases", options.scenario.leases, "Leases for heartbeat and register")->capture_default_str();
  app.add_option("--services", options.scenario.services, "Services for discover and find")->capture_default_str();
  app.add_option("--instances-per-service", options.scenario.instances_per_service, "Instances per service")
      ->capture_default_str();
  app.add_option("--server-cpus", options.server_cpus, "CPUs of spawned servers (taskset list)")->capture_default_str();
  app.add_option("--client-cpus", options.client_cpus, "CPUs of this load generator when spawning")
      ->capture_default_str();
  app.add_flag("--json", options.json, "One JSON object per run instead of the table");
  app.add_flag("--progress", options.load.progress, "A progress line every second");
  CLI11_PARSE(app, argc, argv);
  if (options.target.empty() == options.spawn.empty()) {
    fmt::print(stderr, "give exactly one of --target and --spawn\n");
    return 2;
  }
  if (!options.compare.empty() && options.spawn.empty()) {
    fmt::print(stderr, "--compare needs --spawn (the targets run on the same CPUs)\n");
    return 2;
  }
  try {
    options.load.duration = ParseDuration(duration);
    options.load.warmup = ParseDuration(warmup);
  } catch (const CLI::ValidationError& error) {
    fmt::print(stderr, "{}\n", error.what());
    return 2;
  }
  if (options.ceiling.empty()) options.ceiling = SelfDirectory() + "/registry_ceiling";
  if (!options.spawn.empty()) PinTo(options.client_cpus);

  const std::string threads = std::to_string(CountCpus(options.server_cpus));
  const uint64_t capacity = static_cast<uint64_t>(options.scenario.leases) * 2 +
                            static_cast<uint64_t>(options.scenario.services) * options.scenario.instances_per_service +
                            1000;
  bool failed = false;
  if (!options.json) PrintTableHeader();
  for (const std::string& scenario : options.scenarios) {
    std::vector<Run> runs;
    try {
      std::optional<std::vector<std::string>> registryd;
      if (!options.spawn.empty()) {
        registryd = std::vector<std::string>{options.spawn, "--threads", threads,
                                             "--max-instances", std::to_string(capacity)};
      }
      runs.push_back(Measure(options, "registryd", scenario, registryd, options.target));
      for (const std::string& other : options.compare) {
        runs.push_back(Measure(options, other, scenario,
                               std::vector<std::string>{options.ceiling, "--threads", threads,
                                                        "--discover-instances",
                                                        std::to_string(options.scenario.instances_per_service)},
                               ""));
      }
    } catch (const std::exception& error) {
      fmt::print(stderr, "{}: {}\n", scenario, error.what());
      failed = true;
      continue;
    }
    for (const Run& run : runs) {
      options.json ? PrintJson(run) : PrintRow(run);
      failed |= !run.load.errors.empty() || run.load.calls == 0;
    }
    if (!options.json) {
      for (size_t i = 1; i < runs.size(); ++i) PrintRatios(runs[0], runs[i]);
    }
    std::fflush(stdout);
  }
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace registryd::bench

int main(int argc, char** argv) { return registryd::bench::Main(argc, argv); }
