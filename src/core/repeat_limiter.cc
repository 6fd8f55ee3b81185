#include "core/repeat_limiter.h"

namespace registryd::log {

bool RepeatLimiter::Admit(uint64_t site, TimePoint now, uint64_t& held_back) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = sites_.try_emplace(site);
  Site& state = it->second;
  if (inserted || now - state.window_start >= window_) {
    state.window_start = now;
    state.written = 0;
  }
  if (state.written >= burst_) {
    ++state.held_back;
    return false;
  }
  ++state.written;
  held_back = state.held_back;
  state.held_back = 0;
  return true;
}

}  // namespace registryd::log
