// A noisy neighbour: a loop of the bench's own on each of the server's CPUs,
// busy for a set share of every 10 ms and asleep for the rest. The server,
// started at the lowest priority (nice 19), runs while it sleeps: its share
// of its CPUs is what the neighbour leaves it, whatever the machine. The
// overload scenarios use it to make the same offered load half, then twice
// what the server can answer.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace registryd::bench {

class BusyNeighbour {
 public:
  // One thread pinned to each CPU of `cpus` (a taskset list), busy for
  // `busy` (0..1) of the time.
  BusyNeighbour(const std::string& cpus, double busy);
  ~BusyNeighbour();
  BusyNeighbour(const BusyNeighbour&) = delete;
  BusyNeighbour& operator=(const BusyNeighbour&) = delete;

  void set_busy(double busy) { busy_.store(busy, std::memory_order_relaxed); }

  // The priority the server runs at beside it (nice): below the neighbour's.
  static constexpr int kServerNice = 19;

 private:
  std::atomic<double> busy_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace registryd::bench
