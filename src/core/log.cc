#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace registryd::log {
namespace {

std::atomic<Level> current_level{Level::kInfo};

constexpr std::string_view kLevelNames[] = {"debug", "info", "warn", "error"};

}  // namespace

void SetLevel(Level level) { current_level.store(level, std::memory_order_relaxed); }

bool Enabled(Level level) { return level >= current_level.load(std::memory_order_relaxed); }

bool ParseLevel(std::string_view name, Level& level) {
  for (size_t i = 0; i < std::size(kLevelNames); ++i) {
    if (name == kLevelNames[i]) {
      level = static_cast<Level>(i);
      return true;
    }
  }
  return false;
}

void Write(Level level, fmt::string_view format, fmt::format_args args) {
  const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  fmt::memory_buffer line;
  fmt::format_to(std::back_inserter(line), "{:%Y-%m-%dT%H:%M:%S}Z {:<5} ", now,
                 kLevelNames[static_cast<size_t>(level)]);
  fmt::vformat_to(std::back_inserter(line), format, args);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace registryd::log
