// What the HTTP face's routes read: the node's server (its registry,
// journal, cluster), where it is in its life, and what it was started with.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "server/server.h"

namespace registryd::http {

// For the build_info gauge and the dashboard.
struct NodeInfo {
  std::string version;
  std::string revision;  // of the source tree it was built from
  std::chrono::system_clock::time_point started;
  // The settings an operator looks for first, in order (name, value).
  std::vector<std::pair<std::string, std::string>> settings;
};

class OpsContext {
 public:
  // Starting: restoring its data dir or loading the catalog from etcd.
  // Serving: ready for clients. Stopping: draining before it exits.
  enum class Phase { kStarting, kServing, kStopping };

  OpsContext(Server& server, NodeInfo info) : server_(server), info_(std::move(info)) {}

  Server& server() { return server_; }
  const NodeInfo& info() const { return info_; }
  Phase phase() const { return phase_.load(std::memory_order_acquire); }
  void set_phase(Phase phase) { phase_.store(phase, std::memory_order_release); }

 private:
  Server& server_;
  const NodeInfo info_;
  std::atomic<Phase> phase_{Phase::kStarting};
};

}  // namespace registryd::http
