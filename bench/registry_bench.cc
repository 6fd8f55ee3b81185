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
#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/busy_neighbour.h"
#include "bench/cpu_list.h"
#include "bench/etcd/etcd_cluster.h"
#include "bench/etcd/etcd_server.h"
#include "bench/http_load.h"
#include "bench/load_driver.h"
#include "bench/scenarios.h"
#include "bench/session_client.h"
#include "bench/server_metrics.h"
#include "bench/spawned_server.h"
#include "bench/temp_dir.h"

namespace registryd::bench {
namespace {

struct BenchOptions {
  std::string target;
  std::string spawn;
  std::string baseline;  // path of an earlier registryd build, measured as "baseline"
  HttpLoadOptions http_load;  // beside the "http-load" target
  std::string ceiling;  // path of registry_ceiling
  std::string etcd = "etcd";
  std::vector<std::string> compare;
  std::vector<std::string> scenarios = {"heartbeat"};
  std::string api = "native";
  std::string server_cpus = "0";
  std::string client_cpus = "1";
  std::string etcd_cpus;  // empty: server_cpus
  double busy_neighbour = 0;  // its share of --server-cpus while the scenario runs; 0: none
  int channels = 4;
  int repeat = 1;
  int cluster = 0;  // registryd nodes of the cluster targets
  std::chrono::milliseconds node_ttl{10'000};  // their --node-ttl
  std::vector<std::string> targets;  // measure only these; empty: every one
  bool json = false;
  ScenarioOptions scenario;
  LoadOptions load;
  ClientTls tls;
  std::optional<ChannelFactory> channel_factory;
  std::vector<std::string> server_args;  // more flags for a spawned registryd
  std::vector<std::string> etcd_args;    // more flags for every etcd member started here
};

// A phase as measured on one target.
struct Run {
  std::string target;
  std::string scenario;
  std::string api;
  Phase phase;
  int round = 0;  // with --repeat, which pass over the targets
};

const std::string& EtcdCpus(const BenchOptions& options) {
  return options.etcd_cpus.empty() ? options.server_cpus : options.etcd_cpus;
}

void PinTo(const std::string& list) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (const int cpu : CpusOf(list)) CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

std::string SelfDirectory() { return std::filesystem::read_symlink("/proc/self/exe").parent_path(); }

std::string ApiName(Api api) {
  switch (api) {
    case Api::kNative: return "native";
    case Api::kSeed: return "seed";
    case Api::kEtcd: return "etcd3";
  }
  return "";
}

// Whether `binary --help` mentions `flag`: an earlier build (--baseline)
// may not know a flag this one passes.
bool SupportsFlag(const std::string& binary, std::string_view flag) {
  std::string quoted = "'";
  for (const char c : binary) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  FILE* help = popen((quoted + " --help 2>&1").c_str(), "r");
  if (help == nullptr) return false;
  std::string text;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, help)) > 0;) text.append(buffer, n);
  pclose(help);
  return text.find(flag) != std::string::npos;
}

// registryd's command line for the bench: its HTTP and DNS faces (if it has
// them) on free ports, so that runs side by side do not collide.
std::vector<std::string> RegistrydCommand(const std::string& binary, std::vector<std::string> flags) {
  std::vector<std::string> command{binary};
  command.insert(command.end(), flags.begin(), flags.end());
  if (SupportsFlag(binary, "--http-listen")) command.insert(command.end(), {"--http-listen", "127.0.0.1:0"});
  if (SupportsFlag(binary, "--dns-listen")) command.insert(command.end(), {"--dns-listen", "127.0.0.1:0"});
  return command;
}

// The cluster nodes' --etcd-prefix: the sessions handover reads their keys.
constexpr const char* kClusterPrefix = "/registryd/";

// Runs one scenario against one target: "registryd" (started from --spawn,
// or at --target), "baseline" (the same from --baseline), "http-load" (the
// same as "registryd", with HttpLoad on its HTTP face meanwhile),
// "http-load-elsewhere" (the same load aimed at a port that is not
// registryd's: what it costs outside registryd), "ceiling", "ceiling-reflection" or "etcd" (started here),
// or with --cluster N, "cluster" (the load on one of N nodes over a 3-member
// etcd) and "cluster-rr" (the load round-robin over all N).
std::vector<Run> Measure(const BenchOptions& options, const std::string& target_name, const std::string& scenario_name) {
  Target target;
  target.name = target_name;
  target.address = options.target;
  target.api = options.api == "seed" ? Api::kSeed : Api::kNative;
  if (target_name == "etcd") target.api = Api::kEtcd;
  const std::string threads = std::to_string(CpusOf(options.server_cpus).size());
  const SpawnedServer::Readiness listening{R"(listening on (\S+))", ""};
  std::optional<TempDir> registryd_data;  // outlives the server
  std::deque<TempDir> other_data;         // of registryds a scenario starts besides (spawn_another)
  std::optional<SpawnedServer> server;
  std::optional<EtcdServer> etcd;
  std::optional<EtcdCluster> etcd_cluster;
  std::deque<SpawnedServer> nodes;  // declared after etcd: they stop first, and leave cleanly
  std::vector<std::string> registryd_command;
  std::vector<std::string> node_command;
  std::optional<IdleListener> elsewhere;
  std::optional<HttpLoad> http_load;  // declared after the server and the listener: it stops first
  int http_port = 0;
  std::optional<AuthzFiles> authz;  // outlives the server
  struct CallAuthorizationScope {
    ~CallAuthorizationScope() { SetCallAuthorization(""); }
  } call_authorization;
  if ((target_name == "registryd" || target_name == "memory" || target_name == "baseline" ||
       target_name == "http-load" || target_name == "http-load-elsewhere" || target_name == "authz") &&
      !options.spawn.empty()) {
    const ScenarioOptions& scenario = options.scenario;
    // overload sizes its leases by the capacity it measures: room for any.
    const bool overload = scenario_name == "overload" || scenario_name == "overload-reregister";
    const uint64_t capacity = static_cast<uint64_t>(scenario.leases) * 2 +
                              static_cast<uint64_t>(scenario.services) * scenario.instances_per_service +
                              static_cast<uint64_t>(scenario.storm_leases) + 1000 + (overload ? 1'000'000 : 0);
    // registryd as it runs by default: persistence on, into a fresh data
    // dir; "memory" is the same registryd with --data-dir "".
    if (target_name != "memory") registryd_data.emplace("registry_bench_registryd_");
    registryd_command = RegistrydCommand(
        target_name == "baseline" ? options.baseline : options.spawn,
        {"--threads", threads, "--max-instances", std::to_string(capacity), "--listen", "127.0.0.1:0", "--data-dir",
         registryd_data ? registryd_data->path() : ""});
    registryd_command.insert(registryd_command.end(), options.server_args.begin(), options.server_args.end());
    if (target_name == "authz") {
      authz.emplace("registry_bench_authz_");
      registryd_command.insert(registryd_command.end(),
                               {"--authz-policy", authz->policy, "--auth-tokens", authz->tokens});
      SetCallAuthorization("Bearer " + authz->token);
    }
    if (target_name == "http-load") {
      http_port = FreeLoopbackPort();
      const auto flag = std::find(registryd_command.begin(), registryd_command.end(), "--http-listen");
      if (flag == registryd_command.end()) throw std::runtime_error("http-load: this registryd has no HTTP face");
      *std::next(flag) = fmt::format("127.0.0.1:{}", http_port);
    }
    if (overload) {
      registryd_command.insert(registryd_command.begin(), {"nice", "-n", std::to_string(BusyNeighbour::kServerNice)});
    }
    server.emplace(options.server_cpus, registryd_command, listening);
  } else if (target_name == "ceiling" || target_name == "ceiling-reflection") {
    std::vector<std::string> command{options.ceiling, "--threads", threads, "--discover-instances",
                                     std::to_string(options.scenario.instances_per_service), "--listen",
                                     "127.0.0.1:0"};
    if (target_name == "ceiling-reflection") command.push_back("--reflection");
    if (scenario_name == "overload" || scenario_name == "overload-reregister") {
      command.insert(command.begin(), {"nice", "-n", std::to_string(BusyNeighbour::kServerNice)});
    }
    server.emplace(options.server_cpus, command, listening);
  } else if (target_name == "etcd" && options.cluster > 0) {
    etcd_cluster.emplace(EtcdCpus(options), options.etcd, options.etcd_args);  // the cluster targets' etcd
    target.address = etcd_cluster->Addresses();
  } else if (target_name == "etcd") {
    etcd.emplace(EtcdCpus(options), options.etcd, options.etcd_args);
  } else if (target_name == "cluster" || target_name == "cluster-rr") {
    etcd_cluster.emplace(EtcdCpus(options), options.etcd, options.etcd_args);
    std::string endpoints;
    for (const std::string& url : etcd_cluster->client_urls()) endpoints += (endpoints.empty() ? "" : ",") + url;
    std::string addresses;
    node_command = RegistrydCommand(
        options.spawn, {"--threads", threads, "--max-instances", std::to_string(options.scenario.leases * 2 + 100'000),
                        "--listen", "127.0.0.1:0", "--etcd-endpoints", endpoints, "--etcd-prefix", kClusterPrefix,
                        "--node-ttl", std::to_string(options.node_ttl.count()) + "ms"});
    node_command.insert(node_command.end(), options.server_args.begin(), options.server_args.end());
    for (int i = 0; i < options.cluster; ++i) {
      nodes.emplace_back(options.server_cpus, node_command, listening);
      addresses += (addresses.empty() ? "" : ",") + nodes.back().address();
    }
    target.address = target_name == "cluster" ? nodes.front().address() : addresses;
    if (nodes.size() > 1) target.watch_address = nodes[1].address();
    if (target_name == "cluster") {
      target.pid = nodes.front().pid();  // the CPU and memory of the node measured
      for (const SpawnedServer& node : nodes) target.node_addresses.push_back(node.address());
      target.kill_node = [&nodes](size_t index) { nodes.at(index).Kill(); };
      target.node_ttl = options.node_ttl;
      target.store_keys = [&](const std::string& kind) {
        return etcd_cluster->ModRevisions(kClusterPrefix + kind);
      };
    }
  }
  if (etcd_cluster) target.store_revision = [&] { return etcd_cluster->Revision(); };
  if (!nodes.empty()) {
    target.store_bytes = [&] { return etcd_cluster->DatabaseBytes(); };
    target.start_node = [&] {
      const auto starting = Clock::now();
      nodes.emplace_back(options.server_cpus, node_command, listening);  // returns once it listens: loaded
      const std::chrono::duration<double> took = Clock::now() - starting;
      return NodeStarted{took.count(), ProcessRssBytes(nodes.back().pid())};
    };
  }
  SpawnedServer* process = etcd ? &etcd->process() : server ? &*server : nullptr;
  if (process) {
    target.address = process->address();
    target.pid = process->pid();
  }
  if (!registryd_command.empty()) {
    target.server_metric = [&server](const std::string& name) -> std::optional<double> {
      const std::optional<std::string> face = server ? HttpFaceOf(server->Log()) : std::nullopt;
      return face ? ScrapeMetric(*face, name) : std::nullopt;
    };
  }

  target.channels = &*options.channel_factory;
  target.server_cpus = options.server_cpus;
  target.client_cpus = options.client_cpus;
  if (!registryd_command.empty()) {
    target.spawn_another = [&, command = registryd_command]() mutable {
      const auto data_dir = std::next(std::find(command.begin(), command.end(), "--data-dir"));
      if (!data_dir->empty()) *data_dir = other_data.emplace_back("registry_bench_another_").path();
      return std::make_unique<SpawnedServer>(options.server_cpus, command, listening);
    };
  }
  Connections connections(*target.channels, target.address, options.channels);
  if (!connections.WaitConnected()) throw std::runtime_error("cannot connect to " + target_name);
  if (!registryd_command.empty()) {
    target.restart = [&, command = registryd_command]() mutable {
      using Seconds = std::chrono::duration<double>;
      const auto stopping = Clock::now();
      server->Stop();
      server.reset();
      const auto stopped = Clock::now();
      // A channel that has not seen the connection close yet would send to it.
      if (!connections.WaitDisconnected()) throw std::runtime_error("the stopped registryd's connections stay open");
      const auto starting = Clock::now();
      *std::find(command.begin(), command.end(), "127.0.0.1:0") = target.address;  // the same port
      server.emplace(options.server_cpus, command, listening);  // returns once it listens: restored
      const auto listening_again = Clock::now();
      // The bench's channels reconnect with gRPC's backoff; not the server's time.
      if (!connections.WaitConnected()) throw std::runtime_error("cannot connect to the restarted registryd");
      return Restarted{server->pid(), Seconds(stopped - stopping).count(),
                       Seconds(listening_again - starting).count()};
    };
  }
  std::unique_ptr<Backend> backend =
      target.api == Api::kEtcd ? MakeEtcdBackend(connections) : MakeRegistrydBackend(target.api, connections);
  target.backend = backend.get();
  std::unique_ptr<Scenario> scenario = MakeScenario(scenario_name, options.scenario, target);
  if (!scenario) {
    throw std::runtime_error("scenario " + scenario_name + " does not exist for " +
                             (target.api == Api::kEtcd ? "etcd" : target_name + " --api " + options.api));
  }
  if (http_port != 0) http_load.emplace(http_port, options.http_load);
  if (target_name == "http-load-elsewhere") http_load.emplace(elsewhere.emplace().port(), options.http_load);
  // The neighbour comes with the load, after the scenario registered what it renews.
  std::optional<BusyNeighbour> neighbour;
  LoadOptions load = options.load;
  if (options.busy_neighbour > 0) {
    load.on_measuring = [&] {
      if (!neighbour) neighbour.emplace(options.server_cpus, options.busy_neighbour);
    };
  }
  std::vector<Run> runs;
  for (Phase& phase : scenario->Run(target, load)) {
    runs.push_back({target_name, scenario_name, ApiName(target.api), std::move(phase)});
  }
  if (http_load) {
    fmt::print(stderr, "  http-load: {} HTTP connections opened beside it ({} kept idle, {} slow readers)\n",
               http_load->connections_opened(), options.http_load.idle_connections, options.http_load.slow_readers);
  }
  return runs;
}

std::string ErrorsText(const LoadResult& load) {
  std::string text;
  for (const auto& [code, count] : load.errors) {
    text += fmt::format("{}{}:{}", text.empty() ? "" : ",", code, count);
  }
  return text.empty() ? "0" : text;
}

double CpuPerMillion(const Phase& phase) {
  return phase.cpu_seconds && phase.load.calls > 0
             ? *phase.cpu_seconds * 1e6 / static_cast<double>(phase.load.calls)
             : 0;
}

void PrintTableHeader() {
  fmt::print("{:<10} {:<16} {:<6} {:>10} {:>8} {:>8} {:>8} {:>9} {:>12} {:>10} {}\n", "target", "scenario",
             "api", "calls/s", "p50 us", "p90 us", "p99 us", "p99.9 us", "cpu s/Mcall", "peak RSS", "errors");
}

void PrintRow(const Run& run) {
  const Phase& phase = run.phase;
  const LoadResult& load = phase.load;
  fmt::print("{:<10} {:<16} {:<6} {:>10.0f} {:>8.0f} {:>8.0f} {:>8.0f} {:>9.0f} {:>12} {:>10} {}\n", run.target,
             phase.name, run.api, load.CallsPerSecond(), load.PercentileUs(0.5), load.PercentileUs(0.9),
             load.PercentileUs(0.99), load.PercentileUs(0.999),
             phase.cpu_seconds ? fmt::format("{:.2f}", CpuPerMillion(phase)) : "-",
             phase.peak_rss ? fmt::format("{:.1f} MB", *phase.peak_rss / 1e6) : "-", ErrorsText(load));
  for (const auto& [name, value] : phase.figures) fmt::print("  {} {}: {} = {:.3f}\n", run.target, phase.name, name, value);
}

void PrintJson(const Run& run) {
  const Phase& phase = run.phase;
  const LoadResult& load = phase.load;
  std::string errors;
  for (const auto& [code, count] : load.errors) {
    errors += fmt::format("{}\"{}\":{}", errors.empty() ? "" : ",", code, count);
  }
  fmt::print(
      "{{\"target\":\"{}\",\"scenario\":\"{}\",\"phase\":\"{}\",\"api\":\"{}\",\"round\":{},\"ops\":{},"
      "\"seconds\":{:.3f},\"ops_per_s\":{:.1f},\"p50_us\":{:.0f},\"p90_us\":{:.0f},\"p99_us\":{:.0f},"
      "\"p999_us\":{:.0f},\"errors\":{{{}}}",
      run.target, run.scenario, phase.name, run.api, run.round, load.calls, load.seconds, load.CallsPerSecond(),
      load.PercentileUs(0.5), load.PercentileUs(0.9), load.PercentileUs(0.99), load.PercentileUs(0.999), errors);
  if (phase.cpu_seconds) fmt::print(",\"server_cpu_s_per_million_ops\":{:.3f}", CpuPerMillion(phase));
  if (phase.peak_rss) fmt::print(",\"server_peak_rss_bytes\":{}", *phase.peak_rss);
  for (const auto& [name, value] : phase.figures) fmt::print(",\"{}\":{:.6g}", name, value);
  fmt::print("}}\n");
}

struct Ratios {
  double throughput;
  double p99;
  std::optional<double> cpu_per_call;
};

Ratios RatiosOf(const Run& registryd, const Run& other) {
  const LoadResult& ours = registryd.phase.load;
  const LoadResult& theirs = other.phase.load;
  Ratios ratios{ours.CallsPerSecond() / std::max(theirs.CallsPerSecond(), 1e-9),
                ours.PercentileUs(0.99) / std::max(theirs.PercentileUs(0.99), 1.0), std::nullopt};
  if (registryd.phase.cpu_seconds && other.phase.cpu_seconds && CpuPerMillion(other.phase) > 0) {
    ratios.cpu_per_call = CpuPerMillion(registryd.phase) / CpuPerMillion(other.phase);
  }
  return ratios;
}

// "1.02x", or with several rounds "median 1.02x (0.95-1.10)".
std::string Spread(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  if (values.size() == 1) return fmt::format("{:.2f}x", values[0]);
  return fmt::format("median {:.2f}x ({:.2f}-{:.2f})", values[values.size() / 2], values.front(), values.back());
}

// registryd against each other target, phase by phase; with several rounds,
// the ratio of each round (targets measured one after the other), summed up.
void PrintRatios(const std::vector<Run>& runs) {
  std::map<std::pair<std::string, std::string>, std::vector<Ratios>> by_target_and_phase;
  for (const Run& ours : runs) {
    if (ours.target != "registryd") continue;
    for (const Run& theirs : runs) {
      if (theirs.target != "registryd" && theirs.round == ours.round && theirs.phase.name == ours.phase.name) {
        by_target_and_phase[{theirs.target, ours.phase.name}].push_back(RatiosOf(ours, theirs));
      }
    }
  }
  for (const auto& [key, rounds] : by_target_and_phase) {
    std::vector<double> throughput, p99, cpu;
    for (const Ratios& ratios : rounds) {
      throughput.push_back(ratios.throughput);
      p99.push_back(ratios.p99);
      if (ratios.cpu_per_call) cpu.push_back(*ratios.cpu_per_call);
    }
    std::string line = fmt::format("ratio registryd/{} {}: throughput {}, p99 {}", key.first, key.second,
                                   Spread(throughput), Spread(p99));
    if (cpu.size() == rounds.size()) line += ", cpu per call " + Spread(cpu);
    fmt::print("{}\n", line);
  }
}

// The cluster targets against the standalone registry in the same round
// (memory: no data dir, as a cluster node has none; else registryd), etcd,
// and cluster-rr against cluster.
void PrintClusterRatios(const std::vector<Run>& runs) {
  const auto find = [&](const std::string& target, const Run& like) -> const Run* {
    for (const Run& run : runs) {
      if (run.target == target && run.round == like.round && run.phase.name == like.phase.name) return &run;
    }
    return nullptr;
  };
  std::map<std::pair<std::string, std::string>, std::vector<Ratios>> ratios;
  for (const Run& ours : runs) {
    if (ours.target != "cluster" && ours.target != "cluster-rr") continue;
    const Run* standalone = find("memory", ours);
    if (standalone == nullptr) standalone = find("registryd", ours);
    for (const Run* theirs : {standalone, find("etcd", ours), ours.target == "cluster-rr" ? find("cluster", ours) : nullptr}) {
      if (theirs != nullptr) ratios[{ours.target + "/" + theirs->target, ours.phase.name}].push_back(RatiosOf(ours, *theirs));
    }
  }
  for (const auto& [key, rounds] : ratios) {
    std::vector<double> throughput, p99;
    for (const Ratios& round : rounds) {
      throughput.push_back(round.throughput);
      p99.push_back(round.p99);
    }
    fmt::print("ratio {} {}: throughput {}, p99 {}\n", key.first, key.second, Spread(throughput), Spread(p99));
  }
}

std::chrono::nanoseconds ParseDuration(const std::string& text) {
  absl::Duration parsed;
  if (!absl::ParseDuration(text, &parsed) || parsed < absl::ZeroDuration()) {
    throw CLI::ValidationError(text, "expected a duration such as 10s or 500ms");
  }
  return absl::ToChronoNanoseconds(parsed);
}

int Main(int argc, char** argv) {
  // The load generator shares its CPU with what it measures: like registryd
  // and the ceiling, it skips Debian's abseil lock-order checks (about 2% of
  // a client call in perf).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc > 1 && std::string_view(argv[1]) == kSessionClientCommand) return RunSessionClient(argc, argv);
  BenchOptions options;
  std::string duration = "10s";
  std::string warmup = "2s";
  std::string beat_interval = "20s";
  std::string storm_delay = "20s";
  std::string overload_ttl = "3s";
  std::string session_window = "10s";
  std::string detection_ttl = "3s";
  std::string handover_ttl = "6s";
  std::string node_ttl = "10s";
  std::vector<std::string> overload_steps = {"10s", "20s", "20s"};
  CLI::App app{"registry_bench: throughput, latency and memory of registryd, beside the gRPC ceiling and etcd"};
  app.add_option("--target", options.target, "Address of a running registryd (instead of --spawn)");
  app.add_option("--spawn", options.spawn, "Path of registryd: start it pinned to --server-cpus, stop it after");
  app.add_option("--baseline", options.baseline,
                 "Also measure this registryd (an earlier build, say) as target 'baseline', started as --spawn's is")
      ->check(CLI::ExistingFile);
  app.add_option("--compare", options.compare,
                 "Also measure, in the same run: ceiling (a plain async gRPC server with constant replies), "
                 "ceiling-reflection (the same with gRPC's reflection plugin), etcd (etcd v3 on loopback), "
                 "memory (registryd without a data dir), http-load (registryd with idle and slow HTTP clients on its HTTP "
                 "face: --http-idle, --http-slow-readers), http-load-elsewhere (the same load aimed at a port that is "
                 "not registryd's), authz (registryd under a 100-rule --authz-policy, every call with a bearer token)")
      ->delimiter(',')
      ->check(CLI::IsMember(
          {"ceiling", "ceiling-reflection", "etcd", "memory", "http-load", "http-load-elsewhere", "authz"}));
  app.add_option("--http-idle", options.http_load.idle_connections,
                 "http-load: idle HTTP connections kept open to registryd's HTTP face")
      ->capture_default_str()
      ->check(CLI::Range(0, 20000));
  app.add_option("--http-slow-readers", options.http_load.slow_readers,
                 "http-load: connections that ask for every instance's target and read it a few bytes at a time")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  app.add_option("--cluster", options.cluster,
                 "Also measure N registryd nodes (--spawn) over a 3-member etcd cluster (all on --server-cpus): "
                 "cluster (the load on one node), cluster-rr (round-robin over every node); etcd is then that "
                 "3-member cluster")
      ->check(CLI::Range(1, 9));
  app.add_option("--node-ttl", node_ttl,
                 "The cluster nodes' --node-ttl (give it here, not with --server-arg: the sessions handover waits "
                 "out twice it)")
      ->capture_default_str();
  app.add_option("--targets", options.targets,
                 "Measure only these of the targets the other flags name (registryd, baseline, the --compare "
                 "targets, cluster, cluster-rr); default: every one")
      ->delimiter(',')
      ->check(CLI::IsMember({"registryd", "baseline", "ceiling", "ceiling-reflection", "etcd", "memory", "http-load",
                             "http-load-elsewhere", "authz", "cluster", "cluster-rr"}));
  app.add_option("--ceiling", options.ceiling, "Path of registry_ceiling (default: beside registry_bench)");
  app.add_option("--etcd", options.etcd, "Path of etcd for --compare etcd")->capture_default_str();
  app.add_option("--scenario", options.scenarios,
                 "heartbeat, keepalive (native), register, discover (native), find (seed), mixed, scale, expiry-storm, "
                 "watch (native), xds (native: ADS streams), restart, overload and overload-reregister (native: "
                 "registryd pushed past its capacity and back; the second registers lost leases again), sessions (native: "
                 "instances kept alive by sessions, against KeepAlive and Register on a fresh registryd, and how "
                 "soon a killed or stopped client's sessions go; on the cluster target, a node killed while it holds "
                 "sessions whose clients resume on the others)")
      ->delimiter(',')
      ->check(CLI::IsMember({"heartbeat", "keepalive", "register", "discover", "find", "mixed", "scale",
                             "expiry-storm", "watch", "xds", "restart", "overload", "overload-reregister", "sessions"}))
      ->capture_default_str();
  app.add_option("--api", options.api, "native or seed")->check(CLI::IsMember({"native", "seed"}))->capture_default_str();
  app.add_option("--duration", duration, "Measured time")->capture_default_str();
  app.add_option("--warmup", warmup, "Unmeasured time before it")->capture_default_str();
  app.add_option("--concurrency", options.load.concurrency, "Calls in flight (closed loop)")->capture_default_str();
  app.add_option("--rate", options.load.rate, "Calls per second (open loop); 0 = as fast as possible")
      ->capture_default_str();
  app.add_option("--channels", options.channels, "TCP connections")->capture_default_str();
  std::string start_granularity = "0s";
  app.add_option("--start-granularity", start_granularity,
                 "Open loop: start calls in batches at least this far apart (1ms lets one client CPU offer as many "
                 "calls as a closed loop, each up to 1 ms late); 0: each at its time")
      ->capture_default_str();
  app.add_option("--repeat", options.repeat,
                 "Rounds over the targets (one after the other each round); ratios per round, summed up")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--leases", options.scenario.leases,
                 "Leases for heartbeat, register, mixed, expiry-storm (default 10000) and scale (default 1000000)");
  app.add_option("--services", options.scenario.services, "Services for discover, find and mixed")
      ->capture_default_str();
  app.add_option("--instances-per-service", options.scenario.instances_per_service,
                 "Instances per service for discover and find")
      ->capture_default_str();
  app.add_option("--beat-interval", beat_interval, "mixed: each lease's heartbeat period")->capture_default_str();
  app.add_option("--discover-rate", options.scenario.discover_rate, "mixed: discoveries per second")
      ->capture_default_str();
  app.add_option("--storm-leases", options.scenario.storm_leases, "expiry-storm: leases that expire together")
      ->capture_default_str();
  app.add_option("--storm-delay", storm_delay, "expiry-storm: their deadline, after their registration starts")
      ->capture_default_str();
  app.add_option("--overload-ttl", overload_ttl, "overload: the leases' TTL (renewed every third of it)")
      ->capture_default_str();
  app.add_option("--session-size", options.scenario.session_size,
                 "sessions: instances per session (default 100; on the cluster target 10)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000));
  app.add_option("--session-window", session_window,
                 "sessions: each session is refreshed once per window (its TTL is three)")
      ->capture_default_str();
  app.add_option("--session-batch", options.scenario.session_batch,
                 "sessions: instances per register request on a session (1: the strict comparison with Register, "
                 "one instance per call; a client registering its host's instances sends them together)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--single-sessions", options.scenario.single_sessions,
                 "sessions: sessions of one instance, each refreshed once a second, against as many KeepAlive leases")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--detection-sessions", options.scenario.detection_sessions,
                 "sessions: sessions of the client killed (grace 0) and of the client stopped")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000));
  app.add_option("--detection-ttl", detection_ttl, "sessions: the TTL of those sessions")->capture_default_str();
  app.add_option("--handover-sessions", options.scenario.handover_sessions,
                 "sessions on the cluster target: sessions held by the node killed")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000));
  app.add_option("--handover-ttl", handover_ttl, "sessions on the cluster target: their TTL and grace")
      ->capture_default_str();
  app.add_option("--overload-steps", overload_steps,
                 "overload: how long the server runs alone (the offered rate is half its capacity), then beside a "
                 "busy neighbour (about twice its capacity then), then alone again")
      ->delimiter(',')
      ->expected(3)
      ->capture_default_str();
  app.add_option("--restart-heartbeats", options.scenario.restart_heartbeats,
                 "restart: leases from before the restart renewed after it")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--watchers", options.scenario.watchers,
                 "watch, xds: streams watching the one service (xds: subscribed to its endpoints)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--server-cpus", options.server_cpus, "CPUs of spawned servers (taskset list)")->capture_default_str();
  app.add_option("--busy-neighbour", options.busy_neighbour,
                 "Keep --server-cpus busy this share of the time (0..1) once the scenario's load starts, from "
                 "threads of the bench at its own priority: a server started at nice 19 beside it gets "
                 "what they leave (how the robustness harness overloads a registryd it started)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--client-cpus", options.client_cpus, "CPUs of this load generator when spawning")
      ->capture_default_str();
  app.add_option("--etcd-cpus", options.etcd_cpus,
                 "CPUs of the etcd members (default: --server-cpus); e.g. --etcd-cpus 0 --server-cpus 1 "
                 "--client-cpus 1 gives etcd a CPU of its own, as its own machines would");
  app.add_option("--server-arg", options.server_args,
                 "A further flag for the registryd --spawn starts (repeatable), e.g. --server-arg=--tls-cert=C")
      ->allow_extra_args(false);
  app.add_option("--etcd-arg", options.etcd_args,
                 "A further flag for every etcd member started here (repeatable), e.g. --etcd-arg=--max-txn-ops=1024")
      ->allow_extra_args(false);
  AddClientTlsFlags(app, options.tls);
  app.add_flag("--json", options.json, "One JSON object per run instead of the table");
  app.add_flag("--progress", options.load.progress, "A progress line every second on stderr");
  CLI11_PARSE(app, argc, argv);
  if (options.target.empty() == options.spawn.empty()) {
    fmt::print(stderr, "give exactly one of --target and --spawn\n");
    return 2;
  }
  if ((!options.compare.empty() || options.cluster > 0 || !options.baseline.empty()) && options.spawn.empty()) {
    fmt::print(stderr, "--compare, --cluster and --baseline need --spawn (the targets run on the same CPUs)\n");
    return 2;
  }
  if (!options.compare.empty() && options.tls.enabled()) {
    fmt::print(stderr, "--compare runs its targets in plaintext: measure TLS without it\n");
    return 2;
  }
  absl::StatusOr<ChannelFactory> channels = ChannelFactory::Make(options.tls);
  if (!channels.ok()) {
    fmt::print(stderr, "{}\n", std::string(channels.status().message()));
    return 2;
  }
  options.channel_factory = *std::move(channels);
  try {
    options.load.duration = ParseDuration(duration);
    options.load.warmup = ParseDuration(warmup);
    options.load.start_granularity = ParseDuration(start_granularity);
    options.scenario.beat_interval = ParseDuration(beat_interval);
    options.scenario.storm_delay = ParseDuration(storm_delay);
    options.scenario.overload_ttl = ParseDuration(overload_ttl);
    options.scenario.session_window = ParseDuration(session_window);
    options.scenario.detection_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(ParseDuration(detection_ttl));
    options.scenario.handover_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(ParseDuration(handover_ttl));
    options.node_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(ParseDuration(node_ttl));
    for (size_t step = 0; step < 3; ++step) options.scenario.overload_steps[step] = ParseDuration(overload_steps[step]);
  } catch (const CLI::ValidationError& error) {
    fmt::print(stderr, "{}\n", error.what());
    return 2;
  }
  if (options.scenario.beat_interval <= std::chrono::nanoseconds::zero()) {
    fmt::print(stderr, "--beat-interval must be positive\n");
    return 2;
  }
  if (app.count("--session-size") > 0) options.scenario.handover_session_size = options.scenario.session_size;
  if (options.ceiling.empty()) options.ceiling = SelfDirectory() + "/registry_ceiling";
  if (!options.spawn.empty()) PinTo(options.client_cpus);

  bool failed = false;
  if (!options.json) PrintTableHeader();
  for (const std::string& scenario : options.scenarios) {
    BenchOptions scenario_options = options;
    if ((scenario == "scale" || scenario == "restart" || scenario == "sessions") && app.count("--leases") == 0) {
      scenario_options.scenario.leases = 1'000'000;
    }
    if (scenario != "expiry-storm") scenario_options.scenario.storm_leases = 0;
    scenario_options.scenario.channels = options.channels;
    std::vector<std::string> targets = {"registryd"};
    std::vector<std::string> compared = options.compare;
    if (!options.baseline.empty()) compared.push_back("baseline");
    if (options.cluster > 0) compared.insert(compared.end(), {"cluster", "cluster-rr"});
    for (const std::string& other : compared) {
      const bool overload = scenario == "overload" || scenario == "overload-reregister";
      if (scenario == "expiry-storm" || (scenario == "watch" && other == "etcd") || scenario == "restart" ||
          (scenario == "sessions" && other != "cluster") ||
          (scenario == "xds" && other == "etcd") || (overload && other != "baseline" && other != "ceiling")) {
        fmt::print(stderr, "{}: {} is left out (it has no such operation)\n", scenario, other);
      } else {
        targets.push_back(other);
      }
    }
    if (!options.targets.empty()) {
      std::erase_if(targets, [&](const std::string& target) {
        return std::find(options.targets.begin(), options.targets.end(), target) == options.targets.end();
      });
      if (targets.empty()) fmt::print(stderr, "{}: none of --targets is measured\n", scenario);
    }
    std::vector<Run> runs;
    try {
      for (int round = 0; round < options.repeat; ++round) {
        for (const std::string& target : targets) {
          for (Run& run : Measure(scenario_options, target, scenario)) {
            run.round = round;
            runs.push_back(std::move(run));
          }
        }
      }
    } catch (const std::exception& error) {
      fmt::print(stderr, "{}: {}\n", scenario, error.what());
      failed = true;
    }
    // Overloaded on purpose, these answer late: that is what they measure.
    const bool errors_expected = scenario == "overload" || scenario == "overload-reregister";
    uint64_t calls = 0;
    for (const Run& run : runs) {
      options.json ? PrintJson(run) : PrintRow(run);
      failed |= !errors_expected && !run.phase.load.errors.empty();
      calls += run.phase.load.calls;
    }
    failed |= calls == 0;
    if (!options.json) {
      PrintRatios(runs);
      PrintClusterRatios(runs);
    }
    std::fflush(stdout);
  }
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace registryd::bench

int main(int argc, char** argv) { return registryd::bench::Main(argc, argv); }
