// Field checks shared by both APIs. Each returns INVALID_ARGUMENT with a
// message that names the field (as the caller's API spells it) and the bound,
// so a client can fix its request without reading our source.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/instance.h"

namespace registryd {

absl::Status ValidateService(std::string_view field, std::string_view service);
absl::Status ValidateInstanceId(std::string_view field, std::string_view instance_id);
// An IPv4 or IPv6 literal (without brackets) or a DNS host name.
absl::Status ValidateHost(std::string_view field, std::string_view host);
// An IPv4 or IPv6 literal, without brackets (what gRPC's xDS clients accept
// as an endpoint address).
bool IsIpLiteral(std::string_view host);
absl::Status ValidatePort(std::string_view field, int64_t port);
absl::Status ValidateMetadata(std::string_view field, const Metadata& metadata);

struct HostPort {
  std::string host;
  uint16_t port;
};
// "host:port", "1.2.3.4:port" or "[v6::addr]:port".
absl::StatusOr<HostPort> ParseAddress(std::string_view field, std::string_view address);

}  // namespace registryd
