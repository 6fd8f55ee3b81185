// registryd's flags, "Logging": what goes to stderr, and how.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace registryd::flags {

struct LoggingFlags {
  std::string level = "info";
  std::string format = "text";

  void AddTo(CLI::App& app);
  // Sets the log's level and format, and sends libprotobuf's own messages
  // through it.
  void Apply() const;
};

}  // namespace registryd::flags
