// Leveled logging to stderr with fmt. One line per call, written with a single
// fwrite so lines from different queue threads never interleave.
#pragma once

#include <string_view>

#include <fmt/core.h>

namespace registryd::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLevel(Level level);
bool Enabled(Level level);
// "debug", "info", "warn" or "error"; false for anything else.
bool ParseLevel(std::string_view name, Level& level);

void Write(Level level, fmt::string_view format, fmt::format_args args);

template <typename... Args>
void Debug(fmt::format_string<Args...> format, Args&&... args) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, format, fmt::make_format_args(args...));
}
template <typename... Args>
void Info(fmt::format_string<Args...> format, Args&&... args) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, format, fmt::make_format_args(args...));
}
template <typename... Args>
void Warn(fmt::format_string<Args...> format, Args&&... args) {
  if (Enabled(Level::kWarn)) Write(Level::kWarn, format, fmt::make_format_args(args...));
}
template <typename... Args>
void Error(fmt::format_string<Args...> format, Args&&... args) {
  if (Enabled(Level::kError)) Write(Level::kError, format, fmt::make_format_args(args...));
}

}  // namespace registryd::log
