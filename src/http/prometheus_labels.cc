#include "http/prometheus_labels.h"

namespace registryd::http {

std::string SanitizeLabelName(std::string_view key) {
  std::string name(key);
  for (char& c : name) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!allowed) c = '_';
  }
  return name;
}

}  // namespace registryd::http
