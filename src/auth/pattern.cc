#include "auth/pattern.h"

#include <fmt/format.h>

namespace registryd::auth {
namespace {

// Enough of a pattern to find it by; the error's position has the rest.
std::string Quoted(std::string_view pattern) {
  constexpr size_t kShown = 64;
  if (pattern.size() <= kShown) return fmt::format("{:?}", pattern);
  return fmt::format("{:?}...", pattern.substr(0, kShown));
}

}  // namespace

absl::StatusOr<Pattern> ParsePattern(std::string_view what, std::string_view pattern) {
  if (pattern.empty()) return absl::InvalidArgumentError(fmt::format("{} pattern is empty", what));
  const size_t star = pattern.find('*');
  if (star != std::string_view::npos && star + 1 != pattern.size()) {
    return absl::InvalidArgumentError(fmt::format(
        "{} pattern {} has a '*' before its end: '*' may only end a pattern (a prefix) or be the whole pattern",
        what, Quoted(pattern)));
  }
  if (star == std::string_view::npos) return Pattern{std::string(pattern), false};
  return Pattern{std::string(pattern.substr(0, star)), true};
}

}  // namespace registryd::auth
