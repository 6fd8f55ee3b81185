#include "flags/duration_flag.h"

#include "absl/time/time.h"

namespace registryd::flags {

std::string FormatDuration(Duration duration) { return absl::FormatDuration(absl::FromChrono(duration)); }

CLI::Option* AddDuration(CLI::App& app, const std::string& name, DurationFlag& flag, const std::string& help,
                         Duration min, Duration max) {
  return app
      .add_option_function<std::string>(
          name,
          [&flag, name, min, max](const std::string& text) {
            absl::Duration parsed;
            if (!absl::ParseDuration(text, &parsed)) {
              throw CLI::ValidationError(name + " " + text, "expected a duration such as 60s, 500ms or 1m30s");
            }
            const Duration value = absl::ToChronoNanoseconds(parsed);
            if (value < min || value > max) {
              throw CLI::ValidationError(name + " " + text,
                                         "must be between " + FormatDuration(min) + " and " + FormatDuration(max));
            }
            flag.text = text;
            flag.value = value;
          },
          help)
      ->default_str(flag.text);
}

}  // namespace registryd::flags
