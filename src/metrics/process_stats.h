// The standard process_* metrics' values, read from Linux's /proc, as every
// Prometheus client library exports them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace registryd::metrics {

struct ProcessStats {
  double cpu_seconds = 0;         // user + system
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;
};

// The fields of /proc/<pid>/stat that ProcessStats needs; nullopt when the
// text is not such a line. `boot_time_seconds` is /proc/stat's btime.
std::optional<ProcessStats> ParseProcStat(std::string_view stat, double ticks_per_second, uint64_t page_size,
                                          double boot_time_seconds);

// This process's, now; nullopt where /proc cannot be read.
std::optional<ProcessStats> ReadProcessStats();

}  // namespace registryd::metrics
