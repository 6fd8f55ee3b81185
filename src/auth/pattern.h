// An identity or service pattern of the policy: an exact name, a prefix
// written with a trailing '*' ("orders-*"), or "*" alone (the empty prefix:
// every name). '*' anywhere else is an error, not a character to match.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace registryd::auth {

struct Pattern {
  std::string text;  // without the '*'
  bool prefix = false;

  bool Matches(std::string_view name) const { return prefix ? name.starts_with(text) : name == text; }
  bool MatchesEverything() const { return prefix && text.empty(); }
};

// INVALID_ARGUMENT "<what> pattern ..." for an empty pattern or a misplaced
// '*'. `what` is "identity" or "service".
absl::StatusOr<Pattern> ParsePattern(std::string_view what, std::string_view pattern);

}  // namespace registryd::auth
