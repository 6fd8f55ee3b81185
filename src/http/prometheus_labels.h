// Prometheus' label name rules, for names made from what clients registered.
#pragma once

#include <string>
#include <string_view>

namespace registryd::http {

// `key` as the tail of a label name: every character outside [a-zA-Z0-9_]
// becomes '_' (so "app.kubernetes.io/name" gives "app_kubernetes_io_name").
// The caller's prefix makes the whole name start as a label name must.
std::string SanitizeLabelName(std::string_view key);

}  // namespace registryd::http
