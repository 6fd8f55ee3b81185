// A server process the benchmark starts itself: pinned to a CPU set with
// taskset, stopped by pid; with the process's CPU time and memory read from
// /proc.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace registryd::bench {

class SpawnedServer {
 public:
  // How the server's log (stderr) shows it serves: a line matching `pattern`;
  // the address is `address`, or else the pattern's first group.
  struct Readiness {
    std::string pattern;
    std::string address;
  };

  // Runs `taskset -c cpus command...` and waits until it is ready. Throws
  // std::runtime_error on failure, with the server's log.
  SpawnedServer(const std::string& cpus, std::vector<std::string> command, Readiness readiness);
  ~SpawnedServer();
  SpawnedServer(const SpawnedServer&) = delete;
  SpawnedServer& operator=(const SpawnedServer&) = delete;

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  // What the server has logged so far.
  std::string Log() const;
  void Stop();
  // SIGKILL, as a crash: the server leaves nothing behind in order.
  void Kill();

 private:
  pid_t pid_ = -1;
  std::string address_;
  std::string log_path_;
};

// User + system CPU seconds the process has used so far.
double ProcessCpuSeconds(pid_t pid);
// Peak resident set (VmHWM) in bytes.
uint64_t ProcessPeakRssBytes(pid_t pid);
// Resident set now (VmRSS) in bytes.
uint64_t ProcessRssBytes(pid_t pid);

// A loopback TCP port free at the time of the call, for servers that cannot
// pick their own.
int FreeLoopbackPort();

}  // namespace registryd::bench
