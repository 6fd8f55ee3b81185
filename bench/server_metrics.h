// A registryd's own counters, read from its HTTP face's /metrics: what a
// scenario reports from the server's side (expired leases, holds).
#pragma once

#include <optional>
#include <string>

namespace registryd::bench {

// The HTTP face's host:port from registryd's log ("HTTP face on
// http://HOST:PORT"); nothing when it has none.
std::optional<std::string> HttpFaceOf(const std::string& log);

// The value of the unlabelled sample `name` in http://host_port/metrics;
// nothing when it cannot be read or is not there.
std::optional<double> ScrapeMetric(const std::string& host_port, const std::string& name);

}  // namespace registryd::bench
