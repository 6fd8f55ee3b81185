// Leveled logging to stderr with fmt. One line per call, written with a single
// fwrite so lines from different queue threads never interleave. Text lines
// by default; JSON lines (time, level, message, fields) for log shippers.
// Warnings and errors that repeat are limited per call site (RepeatLimiter:
// 10 lines per 10 s, then one line says how many were held back).
#pragma once

#include <initializer_list>
#include <string_view>

#include <fmt/core.h>

namespace registryd::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kText, kJson };

void SetLevel(Level level);
bool Enabled(Level level);
// "debug", "info", "warn" or "error"; false for anything else.
bool ParseLevel(std::string_view name, Level& level);
void SetFormat(Format format);
// "text" or "json"; false for anything else.
bool ParseFormat(std::string_view name, Format& format);

// A named value of a line: a member of the JSON object, key=value in text.
struct Field {
  std::string_view key;
  std::string_view value;
};

void Write(Level level, std::initializer_list<Field> fields, fmt::string_view format, fmt::format_args args);

template <typename... Args>
void Debug(fmt::format_string<Args...> format, Args&&... args) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, {}, format, fmt::make_format_args(args...));
}
template <typename... Args>
void Info(fmt::format_string<Args...> format, Args&&... args) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, {}, format, fmt::make_format_args(args...));
}
template <typename... Args>
void Warn(fmt::format_string<Args...> format, Args&&... args) {
  if (Enabled(Level::kWarn)) Write(Level::kWarn, {}, format, fmt::make_format_args(args...));
}
template <typename... Args>
void Error(fmt::format_string<Args...> format, Args&&... args) {
  if (Enabled(Level::kError)) Write(Level::kError, {}, format, fmt::make_format_args(args...));
}
// With fields, at any level.
template <typename... Args>
void Fields(Level level, std::initializer_list<Field> fields, fmt::format_string<Args...> format, Args&&... args) {
  if (Enabled(level)) Write(level, fields, format, fmt::make_format_args(args...));
}

}  // namespace registryd::log
