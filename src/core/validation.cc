#include "core/validation.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

#include "absl/strings/ascii.h"
#include <fmt/core.h>
#include "core/limits.h"

namespace registryd {
namespace {

absl::Status Invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("{}: {}", field, what));
}

bool HasControlCharacter(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t code_point = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code_point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code_point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code_point = lead & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kSmallest[length] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

absl::Status ValidateName(std::string_view field, std::string_view value, size_t min_bytes,
                          size_t max_bytes) {
  if (value.size() < min_bytes || value.size() > max_bytes) {
    return Invalid(field, fmt::format("must be {}..{} bytes (got {})", min_bytes, max_bytes, value.size()));
  }
  if (HasControlCharacter(value)) return Invalid(field, "must not contain control characters");
  if (!IsValidUtf8(value)) return Invalid(field, "must be valid UTF-8");
  return absl::OkStatus();
}

// RFC 1123 labels; '_' is tolerated because internal names use it.
bool IsHostName(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty()) return false;
  size_t label_start = 0;
  for (size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.') {
      const std::string_view label = host.substr(label_start, i - label_start);
      if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
        return false;
      }
      label_start = i + 1;
    } else if (!absl::ascii_isalnum(host[i]) && host[i] != '-' && host[i] != '_') {
      return false;
    }
  }
  // A top-level label is never all digits (RFC 3696 section 2): "256.1.1.1"
  // and "10.0.0" are broken addresses, not host names.
  const std::string_view top_label = host.substr(host.rfind('.') + 1);
  return !std::all_of(top_label.begin(), top_label.end(),
                      [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); });
}

}  // namespace

bool IsIpLiteral(std::string_view host) {
  if (host.size() >= INET6_ADDRSTRLEN) return false;
  char buffer[INET6_ADDRSTRLEN];
  host.copy(buffer, host.size());
  buffer[host.size()] = '\0';
  unsigned char address[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, buffer, address) == 1 || inet_pton(AF_INET6, buffer, address) == 1;
}

absl::Status ValidateService(std::string_view field, std::string_view service) {
  return ValidateName(field, service, 1, limits::kMaxServiceBytes);
}

absl::Status ValidateInstanceId(std::string_view field, std::string_view instance_id) {
  return ValidateName(field, instance_id, 0, limits::kMaxInstanceIdBytes);
}

absl::Status ValidateHost(std::string_view field, std::string_view host) {
  if (host.empty()) return Invalid(field, "must not be empty");
  if (host.size() > limits::kMaxHostBytes) {
    return Invalid(field, fmt::format("must be at most {} bytes (got {})", limits::kMaxHostBytes, host.size()));
  }
  if (!IsIpLiteral(host) && !IsHostName(host)) {
    return Invalid(field, "must be an IPv4 or IPv6 address or a DNS host name");
  }
  return absl::OkStatus();
}

absl::Status ValidatePort(std::string_view field, int64_t port) {
  if (port < limits::kMinPort || port > limits::kMaxPort) {
    return Invalid(field, fmt::format("must be in {}..{} (got {})", limits::kMinPort, limits::kMaxPort, port));
  }
  return absl::OkStatus();
}

absl::Status ValidateMetadata(std::string_view field, const Metadata& metadata) {
  if (metadata.size() > limits::kMaxMetadataEntries) {
    return Invalid(field, fmt::format("must have at most {} entries (got {})", limits::kMaxMetadataEntries, metadata.size()));
  }
  size_t total_bytes = 0;
  for (const auto& [key, value] : metadata) {
    if (key.empty() || key.size() > limits::kMaxMetadataKeyBytes) {
      return Invalid(field, fmt::format("keys must be 1..{} bytes (got {})", limits::kMaxMetadataKeyBytes, key.size()));
    }
    if (HasControlCharacter(key)) return Invalid(field, "keys must not contain control characters");
    if (!IsValidUtf8(key) || !IsValidUtf8(value)) return Invalid(field, "keys and values must be valid UTF-8");
    total_bytes += key.size() + value.size();
  }
  if (total_bytes > limits::kMaxMetadataBytes) {
    return Invalid(field, fmt::format("keys and values must total at most {} bytes (got {})", limits::kMaxMetadataBytes, total_bytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<HostPort> ParseAddress(std::string_view field, std::string_view address) {
  std::string_view host;
  std::string_view port_text;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return Invalid(field, "must be host:port, with an IPv6 address as [address]:port");
    }
    host = address.substr(1, close - 1);
    port_text = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos || address.find(':') != colon) {
      return Invalid(field, "must be host:port, with an IPv6 address as [address]:port");
    }
    host = address.substr(0, colon);
    port_text = address.substr(colon + 1);
  }
  if (absl::Status status = ValidateHost(field, host); !status.ok()) return status;
  int64_t port = 0;
  const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size()) {
    return Invalid(field, fmt::format("port must be a number in {}..{}", limits::kMinPort, limits::kMaxPort));
  }
  if (port < limits::kMinPort || port > limits::kMaxPort) {
    return Invalid(field, fmt::format("port must be in {}..{} (got {})", limits::kMinPort,
                                      limits::kMaxPort, port));
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace registryd
