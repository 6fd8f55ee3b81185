// What the fan-out scenarios (watch, xds) share: the latencies of the
// deliveries their reading thread sees while measuring, waiting for their
// streams to start, and the measurement itself: changes as Register calls at
// the load's rate, then the delivery phase with the figures both report.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/load_driver.h"
#include "bench/scenarios.h"
#include "registry/v1/registry.grpc.pb.h"

namespace registryd::bench {

class DeliveryLatencies {
 public:
  // From now on, Add records.
  void StartMeasuring() { measuring_ = true; }
  bool measuring() const { return measuring_.load(); }
  // Latencies of deliveries seen at one moment, in microseconds.
  void Add(const std::vector<uint32_t>& batch) {
    std::lock_guard<std::mutex> lock(mu_);
    latencies_us_.insert(latencies_us_.end(), batch.begin(), batch.end());
  }
  // Everything recorded, as a result over `seconds`; stops recording.
  LoadResult Stop(double seconds) {
    measuring_ = false;
    std::lock_guard<std::mutex> lock(mu_);
    LoadResult result;
    result.seconds = seconds;
    result.latencies_us = std::move(latencies_us_);
    result.calls = result.latencies_us.size();
    result.SortLatencies();
    return result;
  }

 private:
  std::atomic<bool> measuring_{false};
  std::mutex mu_;
  std::vector<uint32_t> latencies_us_;
};

// Polls `condition` until it holds (true) or a minute passed (false).
inline bool WaitUntil(const std::function<bool()>& condition) {
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (!condition()) {
    if (Clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

struct FanoutPhases {
  Phase changes;
  Phase delivery;
};

// Sends a Register of `change(sequence)` through `changer` per change, at
// `load`'s rate (`default_rate` when it has none), and records deliveries
// after the warm-up. The delivery phase, named "<prefix>-delivery", reports
// `streams`, changes_per_s, cpu_per_change_and_stream_us (the server's CPU
// over the changes phase, per change and open stream) and, for a spawned
// server, rss_per_stream_bytes (`rss_with_streams` - `rss_before`, per stream)
// and the peak RSS.
FanoutPhases MeasureFanout(const std::string& prefix, const Target& target, const LoadOptions& load,
                           double default_rate, DeliveryLatencies& latencies, registry::v1::Registry::Stub& changer,
                           const std::function<registry::v1::RegisterRequest(uint64_t sequence)>& change,
                           int streams, uint64_t rss_before, uint64_t rss_with_streams);

}  // namespace registryd::bench
