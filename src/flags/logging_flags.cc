#include "flags/logging_flags.h"

#include <google/protobuf/stubs/logging.h>

#include "core/log.h"

namespace registryd::flags {

void LoggingFlags::AddTo(CLI::App& app) {
  CLI::App& group = *app.add_option_group("Logging", "Lines on stderr (the journal of a systemd unit)");
  group.add_option("--log-level", level, "debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  group.add_option("--log-format", format, "text, or json: one JSON object per line (time, level, message, fields)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
}

void LoggingFlags::Apply() const {
  log::Level parsed_level;
  log::ParseLevel(level, parsed_level);
  log::SetLevel(parsed_level);
  log::Format parsed_format;
  log::ParseFormat(format, parsed_format);
  log::SetFormat(parsed_format);
  // libprotobuf reports every request it cannot parse (a string field with
  // invalid UTF-8, say) on stderr; any client could flood the log that way.
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string& message) {
    log::Debug("protobuf: {}", message);
  });
}

}  // namespace registryd::flags
