// A server process the benchmark starts itself: pinned to a CPU set with
// taskset, on a loopback port it picks, stopped by pid; with the process's CPU
// time and peak RSS read from /proc.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace registryd::bench {

class SpawnedServer {
 public:
  // Runs `taskset -c cpus command... --listen 127.0.0.1:0` and waits until it
  // logs "listening on ADDRESS". Throws std::runtime_error on failure.
  SpawnedServer(const std::string& cpus, std::vector<std::string> command);
  ~SpawnedServer();
  SpawnedServer(const SpawnedServer&) = delete;
  SpawnedServer& operator=(const SpawnedServer&) = delete;

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  void Stop();

 private:
  pid_t pid_ = -1;
  std::string address_;
  std::string log_path_;
};

// User + system CPU seconds the process has used so far.
double ProcessCpuSeconds(pid_t pid);
// Peak resident set (VmHWM) in bytes.
uint64_t ProcessPeakRssBytes(pid_t pid);

}  // namespace registryd::bench
