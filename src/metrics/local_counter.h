// A count kept by one thread and read by any: the writer adds with a plain
// load and store (no locked instruction, no shared cache line with other
// threads' counts); readers see a recent value. Summed over threads at
// scrape time (ThreadMetrics).
#pragma once

#include <atomic>
#include <cstdint>

namespace registryd::metrics {

class LocalCounter {
 public:
  // Only from the owning thread.
  void Add(uint64_t amount = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

}  // namespace registryd::metrics
