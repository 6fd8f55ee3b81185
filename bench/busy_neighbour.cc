#include "bench/busy_neighbour.h"

#include <sched.h>

#include <chrono>
#include <sstream>

namespace registryd::bench {
namespace {

constexpr auto kPeriod = std::chrono::milliseconds(10);

}  // namespace

BusyNeighbour::BusyNeighbour(const std::string& cpus, double busy) : busy_(busy) {
  std::stringstream parts(cpus);
  std::string part;
  while (std::getline(parts, part, ',')) {
    const size_t dash = part.find('-');
    const int first = std::stoi(part.substr(0, dash));
    const int last = dash == std::string::npos ? first : std::stoi(part.substr(dash + 1));
    for (int cpu = first; cpu <= last; ++cpu) {
      threads_.emplace_back([this, cpu] {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
        auto period_start = std::chrono::steady_clock::now();
        while (!stop_.load(std::memory_order_relaxed)) {
          const auto busy_until = period_start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                     kPeriod * busy_.load(std::memory_order_relaxed));
          while (std::chrono::steady_clock::now() < busy_until) {
          }
          period_start += kPeriod;
          std::this_thread::sleep_until(period_start);
        }
      });
    }
  }
}

BusyNeighbour::~BusyNeighbour() {
  stop_.store(true, std::memory_order_relaxed);
  for (std::thread& thread : threads_) thread.join();
}

}  // namespace registryd::bench
