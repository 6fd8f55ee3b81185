#include "metrics/text_exposition.h"

#include <cmath>
#include <stdexcept>

#include <fmt/core.h>

namespace registryd::metrics {
namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// The format's float: Go's ParseFloat reads fmt's shortest round-trip form.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

// The format's escapes: backslash and newline; in label values the double
// quote too.
std::string Escape(std::string_view text, bool quote) {
  std::string escaped;
  escaped.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '\n') {
      escaped += "\\n";
    } else if (c == '"' && quote) {
      escaped += "\\\"";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

}  // namespace

bool TextExposition::IsValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  for (const char c : name) {
    if (!IsNameStart(c) && !IsDigit(c) && c != ':') return false;
  }
  return true;
}

bool TextExposition::IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0])) return false;
  for (const char c : name) {
    if (!IsNameStart(c) && !IsDigit(c)) return false;
  }
  return true;
}

std::string TextExposition::EscapeLabelValue(std::string_view value) { return Escape(value, /*quote=*/true); }

void TextExposition::Family(std::string_view name, MetricType type, std::string_view help) {
  if (!IsValidMetricName(name)) throw std::invalid_argument(fmt::format("invalid metric name '{}'", name));
  family_ = std::string(name);
  type_ = type;
  text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, Escape(help, /*quote=*/false), name, TypeName(type));
}

void TextExposition::Line(std::string_view suffix, Labels labels, std::string_view extra_name,
                          std::string_view extra_value, std::string_view value) {
  text_ += family_;
  text_ += suffix;
  if (labels.size() > 0 || !extra_name.empty()) {
    text_ += '{';
    bool first = true;
    const auto add = [&](std::string_view label, std::string_view label_value) {
      if (!IsValidLabelName(label)) throw std::invalid_argument(fmt::format("invalid label name '{}'", label));
      if (!first) text_ += ',';
      first = false;
      text_ += label;
      text_ += "=\"";
      text_ += EscapeLabelValue(label_value);
      text_ += '"';
    };
    for (const auto& [label, label_value] : labels) add(label, label_value);
    if (!extra_name.empty()) add(extra_name, extra_value);
    text_ += '}';
  }
  text_ += ' ';
  text_ += value;
  text_ += '\n';
}

void TextExposition::Sample(Labels labels, double value) { Line("", labels, {}, {}, FormatValue(value)); }

void TextExposition::Sample(Labels labels, uint64_t value) { Line("", labels, {}, {}, fmt::format("{}", value)); }

void TextExposition::Histogram(Labels labels, const HistogramTotals& totals, const Buckets& buckets) {
  uint64_t cumulative = 0;
  for (size_t bucket = 0; bucket < buckets.upper.size(); ++bucket) {
    if (bucket < totals.counts.size()) cumulative += totals.counts[bucket];
    const double bound = static_cast<double>(buckets.upper[bucket]) / buckets.per_base_unit;
    Line("_bucket", labels, "le", FormatValue(bound), fmt::format("{}", cumulative));
  }
  Line("_bucket", labels, "le", "+Inf", fmt::format("{}", totals.count));
  Line("_sum", labels, {}, {}, FormatValue(static_cast<double>(totals.sum) / buckets.per_base_unit));
  Line("_count", labels, {}, {}, fmt::format("{}", totals.count));
}

}  // namespace registryd::metrics
