#include "dataplane/stats/prometheus_text.h"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include "dataplane/common/str.h"

namespace ccrelay::stats {

namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string_view MetricTypeName(MetricType type) {
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

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (!(IsAlpha(c) || c == '_' || c == ':' || (i > 0 && IsDigit(c)))) {
      return false;
    }
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__") || name == "le") {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (!(IsAlpha(c) || c == '_' || (i > 0 && IsDigit(c)))) {
      return false;
    }
  }
  return true;
}

void AppendEscapedLabelValue(std::string* out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '"':
        out->append("\\\"");
        break;
      case '\n':
        out->append("\\n");
        break;
      default:
        out->push_back(c);
    }
  }
}

void AppendEscapedHelp(std::string* out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      default:
        out->push_back(c);
    }
  }
}

void AppendSampleValue(std::string* out, double value) {
  if (std::isnan(value)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out->append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  // Integral values below 2^53 are exact in a double: print them as integers ("12", not "12.0"
  // or "1.2e+01").
  constexpr double kExactInt = 9007199254740992.0;
  if (value == std::trunc(value) && std::fabs(value) < kExactInt) {
    common::StrAppend(out, static_cast<int64_t>(value));
    return;
  }
  std::array<char, 32> buf;
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  out->append(buf.data(), static_cast<size_t>(r.ptr - buf.data()));
}

void PrometheusTextWriter::Family(std::string_view name, std::string_view help, MetricType type) {
  common::StrAppend(out_, "# HELP ", name, " ");
  AppendEscapedHelp(out_, help);
  common::StrAppend(out_, "\n# TYPE ", name, " ", MetricTypeName(type), "\n");
}

void PrometheusTextWriter::AppendSeries(std::string_view name, std::string_view suffix,
                                        std::span<const Label> labels, std::string_view le) {
  common::StrAppend(out_, name, suffix);
  if (labels.empty() && le.empty()) {
    return;
  }
  out_->push_back('{');
  bool first = true;
  for (const auto& [label, value] : labels) {
    if (!first) {
      out_->push_back(',');
    }
    first = false;
    common::StrAppend(out_, label, "=\"");
    AppendEscapedLabelValue(out_, value);
    out_->push_back('"');
  }
  if (!le.empty()) {
    common::StrAppend(out_, first ? "" : ",", "le=\"", le, "\"");
  }
  out_->push_back('}');
}

void PrometheusTextWriter::Sample(std::string_view name, std::span<const Label> labels,
                                  double value) {
  AppendSeries(name, "", labels, "");
  out_->push_back(' ');
  AppendSampleValue(out_, value);
  out_->push_back('\n');
}

void PrometheusTextWriter::Histogram(std::string_view name, std::span<const Label> labels,
                                     std::span<const double> bounds,
                                     std::span<const uint64_t> bucket_counts, double sum) {
  uint64_t cumulative = 0;
  std::string le;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += i < bucket_counts.size() ? bucket_counts[i] : 0;
    le.clear();
    AppendSampleValue(&le, bounds[i]);
    AppendSeries(name, "_bucket", labels, le);
    common::StrAppend(out_, " ", cumulative, "\n");
  }
  if (bucket_counts.size() > bounds.size()) {
    cumulative += bucket_counts[bounds.size()];
  }
  AppendSeries(name, "_bucket", labels, "+Inf");
  common::StrAppend(out_, " ", cumulative, "\n");
  AppendSeries(name, "_sum", labels, "");
  out_->push_back(' ');
  AppendSampleValue(out_, sum);
  out_->push_back('\n');
  AppendSeries(name, "_count", labels, "");
  common::StrAppend(out_, " ", cumulative, "\n");
}

}  // namespace ccrelay::stats
