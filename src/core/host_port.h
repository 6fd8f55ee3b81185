// Listen addresses as the flags take them: "host:port" or "[v6]:port".
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace registryd {

// The host (without brackets) and the port (0..65535), or nullopt.
std::optional<std::pair<std::string, int>> SplitHostPort(const std::string& listen);
// "host:port", with brackets around an IPv6 host.
std::string JoinHostPort(const std::string& host, int port);

}  // namespace registryd
