#include "metrics/process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace registryd::metrics {
namespace {

std::optional<std::string> ReadWhole(const char* path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::optional<uint64_t> ToNumber(std::string_view text) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// /proc/stat's "btime N" line: the boot time in seconds since the epoch.
std::optional<double> BootTime() {
  const std::optional<std::string> stat = ReadWhole("/proc/stat");
  if (!stat) return std::nullopt;
  const size_t at = stat->find("\nbtime ");
  if (at == std::string::npos) return std::nullopt;
  const size_t begin = at + 7;
  const size_t end = stat->find('\n', begin);
  const std::optional<uint64_t> btime = ToNumber(std::string_view(*stat).substr(begin, end - begin));
  if (!btime) return std::nullopt;
  return static_cast<double>(*btime);
}

}  // namespace

std::optional<ProcessStats> ParseProcStat(std::string_view stat, double ticks_per_second, uint64_t page_size,
                                          double boot_time_seconds) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // the fields start after the last ')'.
  const size_t comm_end = stat.rfind(')');
  if (comm_end == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  std::string_view rest = stat.substr(comm_end + 1);
  while (!rest.empty()) {
    const size_t begin = rest.find_first_not_of(" \n");
    if (begin == std::string_view::npos) break;
    const size_t end = rest.find_first_of(" \n", begin);
    fields.push_back(rest.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
    if (end == std::string_view::npos) break;
    rest = rest.substr(end);
  }
  // proc(5) numbers the fields from 1: utime 14, stime 15, starttime 22, vsize 23, rss 24.
  const auto field = [&](size_t number) -> std::optional<uint64_t> {
    if (number - 3 >= fields.size()) return std::nullopt;
    return ToNumber(fields[number - 3]);
  };
  const auto utime = field(14), stime = field(15), start = field(22), vsize = field(23), rss = field(24);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  ProcessStats stats;
  stats.cpu_seconds = static_cast<double>(*utime + *stime) / ticks_per_second;
  stats.start_time_seconds = boot_time_seconds + static_cast<double>(*start) / ticks_per_second;
  stats.virtual_bytes = *vsize;
  stats.resident_bytes = *rss * page_size;
  return stats;
}

std::optional<ProcessStats> ReadProcessStats() {
  const std::optional<std::string> stat = ReadWhole("/proc/self/stat");
  const std::optional<double> boot_time = BootTime();
  if (!stat || !boot_time) return std::nullopt;
  std::optional<ProcessStats> stats = ParseProcStat(*stat, static_cast<double>(sysconf(_SC_CLK_TCK)),
                                                    static_cast<uint64_t>(sysconf(_SC_PAGESIZE)), *boot_time);
  if (!stats) return std::nullopt;
  std::error_code error;
  for (std::filesystem::directory_iterator fd("/proc/self/fd", error), end; !error && fd != end;
       fd.increment(error)) {
    ++stats->open_fds;
  }
  if (stats->open_fds > 0) --stats->open_fds;  // the directory's own, open while it was read
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) stats->max_fds = limit.rlim_cur;
  return stats;
}

}  // namespace registryd::metrics
