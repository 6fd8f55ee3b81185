// Keeps a warning that repeats from flooding the log: at most `burst` lines
// per site (the caller's key for "the same warning") per `window`; the first line let through after some were
// held back says how many. (A client that sends bad requests in a loop must
// not fill an operator's disk, nor hide the other warnings.)
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "absl/container/flat_hash_map.h"

namespace registryd::log {

class RepeatLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  RepeatLimiter(uint32_t burst, std::chrono::steady_clock::duration window) : burst_(burst), window_(window) {}

  // Whether a line of `site` may be written at `now`; if so, `held_back` is
  // how many of its lines were not since the last one written. Any thread.
  bool Admit(uint64_t site, TimePoint now, uint64_t& held_back);

 private:
  struct Site {
    TimePoint window_start;
    uint32_t written = 0;    // in this window
    uint64_t held_back = 0;  // since the last line written
  };
  const uint32_t burst_;
  const std::chrono::steady_clock::duration window_;
  std::mutex mu_;
  absl::flat_hash_map<uint64_t, Site> sites_;
};

}  // namespace registryd::log
