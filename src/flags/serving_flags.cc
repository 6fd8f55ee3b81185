#include "flags/serving_flags.h"

#include <algorithm>
#include <thread>

namespace registryd::flags {

ServingFlags::ServingFlags() : threads(std::max(1u, std::thread::hardware_concurrency())) {}

void ServingFlags::AddTo(CLI::App& app) {
  CLI::App& group = *app.add_option_group("Serving", "The gRPC port: the seed API, the native API, health, reflection");
  group.add_option("--listen", listen, "Address to serve on (host:port; port 0 picks a free one)")->capture_default_str();
  // No default shown: it is the running machine's, not the one that printed
  // the help or the configuration (the man page, /etc/registryd).
  group.add_option("--threads", threads, "Completion-queue threads (default: one per core)")
      ->check(CLI::Range(1u, 256u));
  group.add_option("--max-instances", max_instances, "Most instances held at once; more registrations get RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  group.add_option("--watch-history", watch_history, "Changes kept per shard for Watch streams that resume or fall behind")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));
  AddDuration(group, "--shutdown-timeout", shutdown_timeout,
              "On SIGINT/SIGTERM, how long in-flight calls may take before they are cancelled");
  group.add_option("--seed-api", seed_api,
                   "Serve the seed's registry_service/discovery_service (its ids are guessable int32s: "
                   "turn it off where no seed client needs it)")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
}

void ServingFlags::ApplyTo(ServerOptions& options) const {
  options.listen = listen;
  options.threads = threads;
  options.registry.max_instances = max_instances;
  options.registry.change_log_capacity = watch_history;
  options.registry.shard_count = ShardCountForThreads(threads);
  options.shutdown_timeout = shutdown_timeout.value;
  options.seed_api = seed_api == "on";
}

}  // namespace registryd::flags
