// The Prometheus text format 0.0.4 writer: escaping, number formatting, histogram series.
#include "dataplane/stats/prometheus_text.h"

#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ccrelay::stats {
namespace {

std::string LabelValue(std::string_view v) {
  std::string out;
  AppendEscapedLabelValue(&out, v);
  return out;
}

std::string Help(std::string_view v) {
  std::string out;
  AppendEscapedHelp(&out, v);
  return out;
}

std::string Value(double v) {
  std::string out;
  AppendSampleValue(&out, v);
  return out;
}

TEST(PrometheusTextTest, EscapesBackslashQuoteAndNewlineInLabelValues) {
  EXPECT_EQ(LabelValue("plain-value_1.2"), "plain-value_1.2");
  EXPECT_EQ(LabelValue(R"(a\b)"), R"(a\\b)");
  EXPECT_EQ(LabelValue(R"(say "hi")"), R"(say \"hi\")");
  EXPECT_EQ(LabelValue("two\nlines"), R"(two\nlines)");
  EXPECT_EQ(LabelValue("\\\"\n"), R"(\\\"\n)");
  // Other bytes (UTF-8, tabs) pass through unchanged.
  EXPECT_EQ(LabelValue("mod\xc3\xa8le\t"), "mod\xc3\xa8le\t");
}

TEST(PrometheusTextTest, EscapesBackslashAndNewlineInHelpButNotQuotes) {
  EXPECT_EQ(Help(R"(a "quoted" \ text)"), R"(a "quoted" \\ text)");
  EXPECT_EQ(Help("line one\nline two"), R"(line one\nline two)");
}

TEST(PrometheusTextTest, FormatsSampleValues) {
  EXPECT_EQ(Value(0), "0");
  EXPECT_EQ(Value(12), "12");
  EXPECT_EQ(Value(-3), "-3");
  EXPECT_EQ(Value(0.5), "0.5");
  EXPECT_EQ(Value(0.1), "0.1");
  EXPECT_EQ(Value(2.5e-7), "2.5e-07");
  EXPECT_EQ(Value(1e300), "1e+300");
  EXPECT_EQ(Value(9007199254740991.0), "9007199254740991");
  EXPECT_EQ(Value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(Value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(Value(std::nan("")), "NaN");
}

TEST(PrometheusTextTest, ValidatesMetricAndLabelNames) {
  EXPECT_TRUE(IsValidMetricName("ccrelay_requests_total"));
  EXPECT_TRUE(IsValidMetricName("job:rate5m"));
  EXPECT_TRUE(IsValidMetricName("_x"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName("a b"));
  EXPECT_TRUE(IsValidLabelName("provider"));
  EXPECT_TRUE(IsValidLabelName("_p2"));
  EXPECT_FALSE(IsValidLabelName(""));
  EXPECT_FALSE(IsValidLabelName("__name__"));
  EXPECT_FALSE(IsValidLabelName("le"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("2x"));
}

TEST(PrometheusTextTest, WritesFamilyHeaderAndSamples) {
  std::string out;
  PrometheusTextWriter w(&out);
  w.Family("x_total", "Help with \\ and\nnewline.", MetricType::kCounter);
  const std::array<Label, 2> labels = {Label("a", "1"), Label("b", "q\"x")};
  w.Sample("x_total", labels, 3);
  w.Sample("x_total", {}, 0.25);
  EXPECT_EQ(out,
            "# HELP x_total Help with \\\\ and\\nnewline.\n"
            "# TYPE x_total counter\n"
            "x_total{a=\"1\",b=\"q\\\"x\"} 3\n"
            "x_total 0.25\n");
}

TEST(PrometheusTextTest, WritesCumulativeHistogramBucketsWithInfSumAndCount) {
  std::string out;
  PrometheusTextWriter w(&out);
  const std::array<Label, 1> labels = {Label("p", "a")};
  const std::vector<double> bounds = {0.5, 1, 2.5};
  const std::vector<uint64_t> counts = {2, 0, 3, 1};  // non-cumulative; the last above 2.5
  w.Histogram("h_seconds", labels, bounds, counts, 7.25);
  EXPECT_EQ(out,
            "h_seconds_bucket{p=\"a\",le=\"0.5\"} 2\n"
            "h_seconds_bucket{p=\"a\",le=\"1\"} 2\n"
            "h_seconds_bucket{p=\"a\",le=\"2.5\"} 5\n"
            "h_seconds_bucket{p=\"a\",le=\"+Inf\"} 6\n"
            "h_seconds_sum{p=\"a\"} 7.25\n"
            "h_seconds_count{p=\"a\"} 6\n");
}

TEST(PrometheusTextTest, HistogramWithoutLabelsHasOnlyLe) {
  std::string out;
  PrometheusTextWriter w(&out);
  const std::vector<double> bounds = {1};
  const std::vector<uint64_t> counts = {0, 0};
  w.Histogram("h", {}, bounds, counts, 0);
  EXPECT_EQ(out,
            "h_bucket{le=\"1\"} 0\n"
            "h_bucket{le=\"+Inf\"} 0\n"
            "h_sum 0\n"
            "h_count 0\n");
}

}  // namespace
}  // namespace ccrelay::stats
