// A duration flag ("60s", "500ms", "1m30s"), kept as the text given and its
// value, bounded on parsing.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "core/clock.h"

namespace registryd::flags {

struct DurationFlag {
  std::string text;
  Duration value;
};

// Bounds that keep deadline arithmetic and the wire's uint32 milliseconds
// far from overflow.
inline constexpr Duration kMaxDuration = std::chrono::hours(24 * 30);

// As absl prints it: "1m30s", "500ms".
std::string FormatDuration(Duration duration);

// Adds `name` to `app`; a value outside [min, max] or not a duration is
// refused, naming the flag, what was given and the bounds.
CLI::Option* AddDuration(CLI::App& app, const std::string& name, DurationFlag& flag, const std::string& help,
                         Duration min = std::chrono::milliseconds(1), Duration max = kMaxDuration);

}  // namespace registryd::flags
