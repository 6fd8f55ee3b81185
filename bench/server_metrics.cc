#include "bench/server_metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>

namespace registryd::bench {

std::optional<std::string> HttpFaceOf(const std::string& log) {
  static const std::regex kFace(R"(HTTP face on http://(\S+))");
  std::smatch match;
  if (!std::regex_search(log, match, kFace)) return std::nullopt;
  return match[1].str();
}

std::optional<double> ScrapeMetric(const std::string& host_port, const std::string& name) {
  const size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::atoi(host_port.c_str() + colon + 1)));
  if (inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &address.sin_addr) != 1) return std::nullopt;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  std::string text;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[65536];
      for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  const std::string line_start = "\n" + name + " ";
  const size_t at = text.find(line_start);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(text.c_str() + at + line_start.size(), nullptr);
}

}  // namespace registryd::bench
