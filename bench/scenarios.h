// What registry_bench measures: each scenario puts the data its calls need
// into the target, then makes the measured calls, through any Backend.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bench/backend.h"
#include "bench/load_driver.h"
#include "bench/spawned_server.h"

namespace registryd::bench {

struct ScenarioOptions {
  int leases = 10'000;              // heartbeat, register, mixed, scale, expiry-storm
  int services = 10;                // discover, find, mixed
  int instances_per_service = 100;  // discover, find
  int setup_concurrency = 64;
  std::chrono::nanoseconds beat_interval = std::chrono::seconds(20);  // mixed
  double discover_rate = 1000;                                        // mixed, per second
  int storm_leases = 100'000;                                         // expiry-storm
  std::chrono::nanoseconds storm_delay = std::chrono::seconds(20);    // expiry-storm
  int watchers = 1000;                                                 // watch, xds: streams
  int restart_heartbeats = 10'000;                                     // restart: leases renewed after it
  int channels = 4;                                                    // watch: the streams' connections
  std::chrono::nanoseconds overload_ttl = std::chrono::seconds(3);     // overload: the leases' TTL
  // overload: alone, beside a busy neighbour (about twice its capacity), alone again.
  std::array<std::chrono::nanoseconds, 3> overload_steps = {std::chrono::seconds(10), std::chrono::seconds(20),
                                                            std::chrono::seconds(20)};
  int session_size = 100;  // sessions: instances per session (`leases` in all)
  int session_batch = 1;    // sessions: instances per register request on a session
  // sessions: each session refreshed once per window (its TTL: three windows)
  std::chrono::nanoseconds session_window = std::chrono::seconds(10);
  int single_sessions = 10'000;  // sessions: of one instance each, each refreshed once a second
  int detection_sessions = 1000;  // sessions: of the killed and of the stopped client
  std::chrono::milliseconds detection_ttl = std::chrono::seconds(3);
  // sessions on a cluster target: sessions held by the node killed, of
  // `handover_session_size` instances each, with this TTL and grace.
  int handover_sessions = 1000;
  int handover_session_size = 10;
  std::chrono::milliseconds handover_ttl = std::chrono::seconds(6);
};

// How a restart of the target went.
struct Restarted {
  pid_t pid;
  double stop_seconds;   // SIGTERM until the process exited
  double start_seconds;  // started again until it listened (its data restored)
};

// A node that joined a cluster target.
struct NodeStarted {
  double start_seconds;  // started until it listened (the catalog loaded)
  uint64_t rss_bytes;    // its resident memory then
};

// The target a scenario runs against.
struct Target {
  std::string name;            // "registryd", "ceiling", "etcd"
  std::string address;
  // Where the watch scenario's streams watch from, when not `address` (a
  // cluster's second node: a change's way from one node to another).
  std::string watch_address;
  Api api = Api::kNative;
  std::optional<pid_t> pid;    // known when the bench started the server
  Backend* backend = nullptr;
  const ChannelFactory* channels = nullptr;  // plaintext or TLS, for a scenario's own connections
  std::string server_cpus;                    // where a spawned server runs (taskset list)
  std::string client_cpus;                    // where a client process the scenario starts runs
  // Starts another registryd as the bench spawned this one (its own data
  // dir), for a scenario that compares with a fresh process; unset otherwise.
  std::function<std::unique_ptr<SpawnedServer>()> spawn_another;
  // Stops the server (SIGTERM) and starts it again on the same address and
  // data dir; set for a registryd the bench spawned.
  std::function<Restarted()> restart;
  // In cluster mode, etcd's revision: the phases report the etcd write Txns per call.
  std::function<int64_t()> store_revision;
  // In cluster mode, the size of etcd's database in bytes (scale reports it).
  std::function<int64_t()> store_bytes;
  // In cluster mode, starts one more node: scale reports how long it took to
  // load the catalog and serve, and its memory then.
  std::function<NodeStarted()> start_node;
  // The "cluster" target: every node's address (the node measured first),
  // a way to kill one (SIGKILL, a crash), and the nodes' --node-ttl.
  std::vector<std::string> node_addresses;
  std::function<void(size_t index)> kill_node;
  std::chrono::milliseconds node_ttl{};
  // In cluster mode: {key: mod_revision} of every key in etcd under the
  // cluster's prefix followed by `kind` ("sessions/", "instances/").
  std::function<std::map<std::string, int64_t>(const std::string& kind)> store_keys;
  // A counter of the server's /metrics (a registryd the bench started, with
  // an HTTP face); nothing otherwise.
  std::function<std::optional<double>(const std::string& name)> server_metric = [](const std::string&) {
    return std::optional<double>();
  };
};

// One measured part of a scenario: a row of the report.
struct Phase {
  std::string name;
  LoadResult load;
  std::optional<double> cpu_seconds;  // the server's, over the phase
  std::optional<uint64_t> peak_rss;
  std::vector<std::pair<std::string, double>> figures;  // further results, by name
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  // Sets the target up, measures; throws std::runtime_error when the setup fails.
  virtual std::vector<Phase> Run(const Target& target, const LoadOptions& load) = 0;
};

// nullptr for an unknown name, or a scenario the target does not have
// (discover is the native API's, find the seed's; etcd does both as a range).
std::unique_ptr<Scenario> MakeScenario(const std::string& name, const ScenarioOptions& options,
                                       const Target& target);

// Building blocks for the scenarios' files.
std::string BenchServiceName(int index);
// Runs `factory` under `load` as phase `name`, with the server's CPU and memory.
Phase MeasurePhase(const std::string& name, const CallFactory& factory, LoadOptions load, const Target& target);
// Registers `leases->size()` instances, number i as `registration(i)`, their
// handles into *leases; throws when any call fails.
LoadResult RegisterAll(const Target& target, std::vector<uint64_t>* leases, int concurrency,
                       const std::function<Registration(uint64_t index)>& registration);
// The same for instances spread over `services` services, with leases that
// outlive any run.
LoadResult RegisterAll(const Target& target, std::vector<uint64_t>* leases, int services, int concurrency,
                       uint64_t first_instance);

std::unique_ptr<Scenario> MakeExpiryStormScenario(const ScenarioOptions& options);
std::unique_ptr<Scenario> MakeWatchFanoutScenario(const ScenarioOptions& options);
std::unique_ptr<Scenario> MakeXdsFanoutScenario(const ScenarioOptions& options);
std::unique_ptr<Scenario> MakeRestartScenario(const ScenarioOptions& options);
std::unique_ptr<Scenario> MakeOverloadScenario(const ScenarioOptions& options, bool reregister);
std::unique_ptr<Scenario> MakeSessionsScenario(const ScenarioOptions& options);

}  // namespace registryd::bench
