// CPU lists as taskset takes them ("0", "0-1", "0,2-3"): where the bench
// pins itself, its servers and its noisy neighbour.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace registryd::bench {

inline std::vector<int> CpusOf(const std::string& list) {
  std::vector<int> cpus;
  std::stringstream parts(list);
  std::string part;
  while (std::getline(parts, part, ',')) {
    const size_t dash = part.find('-');
    const int first = std::stoi(part.substr(0, dash));
    const int last = dash == std::string::npos ? first : std::stoi(part.substr(dash + 1));
    for (int cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
  }
  return cpus;
}

}  // namespace registryd::bench
