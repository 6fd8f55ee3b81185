// Prometheus' text exposition format (version 0.0.4), written family by
// family: a family's HELP and TYPE lines, then its samples. Names must be
// valid metric and label names (checked: a bad one is a bug, it throws);
// label values and help texts are escaped as the format says.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "metrics/local_histogram.h"

namespace registryd::metrics {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

enum class MetricType { kCounter, kGauge, kHistogram };

class TextExposition {
 public:
  // Starts a family; its samples follow. A counter's name ends in _total.
  void Family(std::string_view name, MetricType type, std::string_view help);
  // A sample of the current family (a counter's or a gauge's).
  void Sample(Labels labels, double value);
  void Sample(Labels labels, uint64_t value);
  // A histogram's series for one label set: cumulative _bucket lines (le in
  // the base unit), +Inf, _sum and _count.
  void Histogram(Labels labels, const HistogramTotals& totals, const Buckets& buckets);

  // The exposition so far; the writer is empty after.
  std::string Take() { return std::exchange(text_, {}); }

  // Prometheus' label value escaping: backslash, double quote, newline.
  static std::string EscapeLabelValue(std::string_view value);
  static bool IsValidMetricName(std::string_view name);
  static bool IsValidLabelName(std::string_view name);

 private:
  void Line(std::string_view suffix, Labels labels, std::string_view extra_name, std::string_view extra_value,
            std::string_view value);

  std::string text_;
  std::string family_;
  MetricType type_ = MetricType::kGauge;
};

}  // namespace registryd::metrics
