// A histogram kept by one thread (as LocalCounter): observations in base
// units' integers (nanoseconds, bytes, writes) against fixed upper bounds,
// merged over threads into a HistogramTotals at scrape time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "metrics/local_counter.h"

namespace registryd::metrics {

// Bucket bounds of one histogram family: `upper` in the observation's
// integer unit, and how many of that unit make the exposed base unit (1e9
// for nanoseconds exposed as seconds; dividing keeps 0.0001 exact in print).
struct Buckets {
  std::span<const uint64_t> upper;
  double per_base_unit;
};

// Sums over threads, cumulative counts not yet applied.
struct HistogramTotals {
  std::vector<uint64_t> counts;  // per bucket, then one for above the last bound
  uint64_t sum = 0;              // in the observation's unit
  uint64_t count = 0;
};

template <size_t kBounds>
class LocalHistogram {
 public:
  // Only from the owning thread.
  void Observe(const std::array<uint64_t, kBounds>& upper, uint64_t value) {
    size_t bucket = 0;
    while (bucket < kBounds && value > upper[bucket]) ++bucket;
    counts_[bucket].Add();
    sum_.Add(value);
  }

  void AddTo(HistogramTotals& totals) const {
    totals.counts.resize(kBounds + 1);
    for (size_t bucket = 0; bucket <= kBounds; ++bucket) {
      const uint64_t in_bucket = counts_[bucket].value();
      totals.counts[bucket] += in_bucket;
      totals.count += in_bucket;
    }
    totals.sum += sum_.value();
  }

 private:
  std::array<LocalCounter, kBounds + 1> counts_;
  LocalCounter sum_;
};

}  // namespace registryd::metrics
