// Lease and session TTLs travel as uint32 milliseconds on registryd's API.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "core/clock.h"

namespace registryd {

inline uint32_t ToWireMillis(Duration duration) {
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
  return static_cast<uint32_t>(std::clamp<int64_t>(millis, 0, UINT32_MAX));
}

}  // namespace registryd
