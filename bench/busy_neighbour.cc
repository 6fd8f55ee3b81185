#include "bench/busy_neighbour.h"

#include <sched.h>

#include <chrono>

#include "bench/cpu_list.h"

namespace registryd::bench {
namespace {

constexpr auto kPeriod = std::chrono::milliseconds(10);

}  // namespace

BusyNeighbour::BusyNeighbour(const std::string& cpus, double busy) : busy_(busy) {
  for (const int cpu : CpusOf(cpus)) {
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

BusyNeighbour::~BusyNeighbour() {
  stop_.store(true, std::memory_order_relaxed);
  for (std::thread& thread : threads_) thread.join();
}

}  // namespace registryd::bench
