#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace ccrelay::stats {

// The Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kCounter, kGauge, kHistogram };

std::string_view MetricTypeName(MetricType type);

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved) and not "le" (histograms use it).
bool IsValidLabelName(std::string_view name);

// A label value with `\`, `"` and newline escaped (`\\`, `\"`, `\n`).
void AppendEscapedLabelValue(std::string* out, std::string_view value);
// HELP text with `\` and newline escaped.
void AppendEscapedHelp(std::string* out, std::string_view help);
// A sample value: integers without a fraction or exponent, others in the shortest form that
// reads back exactly; "+Inf", "-Inf", "NaN".
void AppendSampleValue(std::string* out, double value);

using Label = std::pair<std::string_view, std::string_view>;

// Appends families to a string. Each family is written once, as a HELP and a TYPE line followed
// by all its samples; the caller keeps a family's samples together.
class PrometheusTextWriter {
 public:
  explicit PrometheusTextWriter(std::string* out) : out_(out) {}

  void Family(std::string_view name, std::string_view help, MetricType type);
  // `name{labels...} value`; `name` without braces when there is no label.
  void Sample(std::string_view name, std::span<const Label> labels, double value);
  // One histogram series: `_bucket{...,le="b"}` per bound (cumulative), `le="+Inf"`, `_sum`,
  // `_count`. `bucket_counts` holds bounds.size() + 1 non-cumulative counts (the last one
  // above the largest bound); the count is their sum.
  void Histogram(std::string_view name, std::span<const Label> labels,
                 std::span<const double> bounds, std::span<const uint64_t> bucket_counts,
                 double sum);

 private:
  void AppendSeries(std::string_view name, std::string_view suffix, std::span<const Label> labels,
                    std::string_view le);

  std::string* out_;
};

}  // namespace ccrelay::stats
