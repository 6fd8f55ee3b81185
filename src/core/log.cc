#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "core/json_text.h"
#include "core/repeat_limiter.h"

namespace registryd::log {
namespace {

std::atomic<Level> current_level{Level::kInfo};
std::atomic<Format> current_format{Format::kText};

constexpr std::string_view kLevelNames[] = {"debug", "info", "warn", "error"};

RepeatLimiter& Limiter() {
  static RepeatLimiter* const limiter = new RepeatLimiter(10, std::chrono::seconds(10));  // threads log at exit
  return *limiter;
}

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

void SetFormat(Format format) { current_format.store(format, std::memory_order_relaxed); }

bool ParseFormat(std::string_view name, Format& format) {
  if (name == "text") {
    format = Format::kText;
  } else if (name == "json") {
    format = Format::kJson;
  } else {
    return false;
  }
  return true;
}

void Write(Level level, std::initializer_list<Field> fields, fmt::string_view format, fmt::format_args args) {
  fmt::memory_buffer message;
  fmt::vformat_to(std::back_inserter(message), format, args);
  const std::string_view text(message.data(), message.size());
  uint64_t held_back = 0;
  if (level >= Level::kWarn) {
    // "The same warning": its format and the start of its text (a format of
    // just "{}" serves many sites; a peer's address comes late in a line).
    const std::string_view head = text.substr(0, 24);
    const uint64_t site = std::hash<std::string_view>()(std::string_view(format.data(), format.size())) * 31 +
                          std::hash<std::string_view>()(head);
    if (!Limiter().Admit(site, std::chrono::steady_clock::now(), held_back)) return;
  }
  const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  const std::string_view level_name = kLevelNames[static_cast<size_t>(level)];
  fmt::memory_buffer line;
  const auto out = std::back_inserter(line);
  if (current_format.load(std::memory_order_relaxed) == Format::kJson) {
    fmt::format_to(out, "{{\"time\":\"{:%Y-%m-%dT%H:%M:%S}Z\",\"level\":\"{}\",\"message\":{}", now, level_name,
                   JsonString(text));
    for (const Field& field : fields) fmt::format_to(out, ",{}:{}", JsonString(field.key), JsonString(field.value));
    if (held_back > 0) fmt::format_to(out, ",\"suppressed\":{}", held_back);
    line.push_back('}');
  } else {
    fmt::format_to(out, "{:%Y-%m-%dT%H:%M:%S}Z {:<5} {}", now, level_name, text);
    for (const Field& field : fields) fmt::format_to(out, " {}={}", field.key, field.value);
    if (held_back > 0) fmt::format_to(out, " ({} more like this held back)", held_back);
  }
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace registryd::log
