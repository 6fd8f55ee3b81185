#include "dns/dns_name.h"

#include <algorithm>
#include <vector>

namespace registryd::dns {
namespace {

std::vector<std::string_view> Labels(std::string_view dotted) {
  std::vector<std::string_view> labels;
  for (size_t start = 0;;) {
    const size_t dot = dotted.find('.', start);
    labels.push_back(dotted.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return labels;
    start = dot + 1;
  }
}

QueryName Of(NameKind kind, std::string_view service = {}, std::string_view instance = {}) {
  return QueryName{kind, std::string(service), std::string(instance)};
}

}  // namespace

std::string LowerCase(std::string_view text) {
  std::string lowered(text);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](char c) { return LowerCase(c); });
  return lowered;
}

bool IsDnsLabel(std::string_view text) {
  if (text.empty() || text.size() > 63 || text.front() == '-' || text.back() == '-') return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::optional<std::string> NormalizeDomain(std::string_view domain) {
  std::string lowered = LowerCase(domain);
  if (!lowered.empty() && lowered.back() == '.') lowered.pop_back();
  if (lowered.empty() || lowered.size() > 200) return std::nullopt;
  for (std::string_view label : Labels(lowered)) {
    if (!IsDnsLabel(label)) return std::nullopt;
  }
  return lowered + ".";
}

QueryName ParseQueryName(std::string_view name, std::string_view domain) {
  const std::string lowered = LowerCase(name);
  const bool under = lowered.size() > domain.size() &&
                     std::string_view(lowered).substr(lowered.size() - domain.size()) == domain &&
                     lowered[lowered.size() - domain.size() - 1] == '.';
  if (lowered == domain) return Of(NameKind::kApex);
  if (!under) return Of(NameKind::kOutside);
  // The labels left of the domain, the rightmost first.
  std::vector<std::string_view> labels = Labels(std::string_view(lowered).substr(0, lowered.size() - domain.size() - 1));
  std::reverse(labels.begin(), labels.end());
  if (labels[0] == "service") {
    if (labels.size() == 1) return Of(NameKind::kEmpty);
    if (labels.size() == 2 && IsDnsLabel(labels[1])) return Of(NameKind::kService, labels[1]);
    if (labels[1] == "_tcp") {
      if (labels.size() == 2) return Of(NameKind::kEmpty);
      if (labels.size() == 3 && labels[2].size() > 1 && labels[2][0] == '_' && IsDnsLabel(labels[2].substr(1))) {
        return Of(NameKind::kService, labels[2].substr(1));
      }
    }
    return Of(NameKind::kUnknown);
  }
  if (labels[0] == "instance") {
    if (labels.size() == 1) return Of(NameKind::kEmpty);
    if (labels.size() == 3 && IsDnsLabel(labels[1]) && IsDnsLabel(labels[2])) {
      return Of(NameKind::kInstance, labels[1], labels[2]);
    }
  }
  return Of(NameKind::kUnknown);
}

}  // namespace registryd::dns
