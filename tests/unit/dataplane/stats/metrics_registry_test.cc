// The in-house metrics registry: series by label values (lock-free lookup once created),
// counters, gauges, histograms, exposition order and escaping, the per-family series cap, and
// concurrent updates.
#include "dataplane/stats/metrics_registry.h"

#include <array>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "dataplane/common/str.h"

namespace ccrelay::stats {
namespace {

size_t CountLines(const std::string& text, std::string_view prefix) {
  size_t n = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    if (std::string_view(text).substr(pos, end - pos).starts_with(prefix)) {
      ++n;
    }
    pos = end == std::string::npos ? text.size() : end + 1;
  }
  return n;
}

TEST(MetricsRegistryTest, CounterSeriesAreRenderedSortedByLabelValues) {
  MetricsRegistry r;
  CounterFamily& c = r.AddCounter("reqs_total", "Requests.", {"provider", "status"});
  c.WithLabels({"b", "200"}).Inc();
  c.WithLabels({"a", "500"}).Inc(2);
  c.WithLabels({"a", "200"}).Inc(0.5);
  c.WithLabels({"a", "200"}).Inc();
  EXPECT_EQ(r.Render(),
            "# HELP reqs_total Requests.\n"
            "# TYPE reqs_total counter\n"
            "reqs_total{provider=\"a\",status=\"200\"} 1.5\n"
            "reqs_total{provider=\"a\",status=\"500\"} 2\n"
            "reqs_total{provider=\"b\",status=\"200\"} 1\n");
}

TEST(MetricsRegistryTest, SameLabelValuesGiveTheSameSeries) {
  MetricsRegistry r;
  CounterFamily& c = r.AddCounter("x_total", "X.", {"a", "b"});
  Counter& one = c.WithLabels({"p", "q"});
  EXPECT_EQ(&one, &c.WithLabels({"p", "q"}));
  EXPECT_NE(&one, &c.WithLabels({"q", "p"}));
  // Label boundaries matter: ("ab", "") is not ("a", "b").
  EXPECT_NE(&c.WithLabels({"ab", ""}), &c.WithLabels({"a", "b"}));
  EXPECT_EQ(c.series_count(), 4u);
  EXPECT_EQ(c.Find({"p", "q"}), &one);
  EXPECT_EQ(c.Find({"nope", "q"}), nullptr);
}

TEST(MetricsRegistryTest, FamilyWithoutSeriesIsNotRendered) {
  MetricsRegistry r;
  r.AddCounter("unused_total", "Never used.", {"a"});
  GaugeFamily& g = r.AddGauge("g", "A gauge.");
  g.WithLabels({}).Set(4);
  EXPECT_EQ(r.Render(), "# HELP g A gauge.\n# TYPE g gauge\ng 4\n");
}

TEST(MetricsRegistryTest, CounterIgnoresNegativeIncrementsGaugeGoesBothWays) {
  MetricsRegistry r;
  Counter& c = r.AddCounter("c_total", "C.").WithLabels({});
  c.Inc(3);
  c.Inc(-2);
  EXPECT_EQ(c.Value(), 3);
  Gauge& g = r.AddGauge("g", "G.").WithLabels({});
  g.Add(2);
  g.Add(-5);
  EXPECT_EQ(g.Value(), -3);
  g.Set(7);
  EXPECT_EQ(g.Value(), 7);
}

TEST(MetricsRegistryTest, LabelValuesAreEscapedInTheExposition) {
  MetricsRegistry r;
  r.AddCounter("e_total", "E.", {"model"}).WithLabels({"a\"b\\c\nd"}).Inc();
  EXPECT_NE(r.Render().find("e_total{model=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos)
      << r.Render();
}

TEST(MetricsRegistryTest, HistogramBucketsAreInclusiveUpperBounds) {
  MetricsRegistry r;
  HistogramFamily& h = r.AddHistogram("d_seconds", "D.", {"p"}, {0.25, 1, 10});
  Histogram& s = h.WithLabels({"x"});
  s.Observe(0.25);   // le="0.25" (inclusive)
  s.Observe(0.125);  // le="0.25"
  s.Observe(1);      // le="1"
  s.Observe(5);      // le="10"
  s.Observe(60);     // only +Inf
  const Histogram::Snapshot snap = s.Read();
  EXPECT_EQ(snap.buckets, (std::vector<uint64_t>{2, 1, 1, 1}));
  EXPECT_EQ(snap.count, 5u);
  EXPECT_EQ(snap.sum, 66.375);  // exact in binary
  EXPECT_EQ(r.Render(),
            "# HELP d_seconds D.\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{p=\"x\",le=\"0.25\"} 2\n"
            "d_seconds_bucket{p=\"x\",le=\"1\"} 3\n"
            "d_seconds_bucket{p=\"x\",le=\"10\"} 4\n"
            "d_seconds_bucket{p=\"x\",le=\"+Inf\"} 5\n"
            "d_seconds_sum{p=\"x\"} 66.375\n"
            "d_seconds_count{p=\"x\"} 5\n");
}

TEST(MetricsRegistryTest, FamiliesAreRenderedInRegistrationOrder) {
  MetricsRegistry r;
  r.AddGauge("zz", "Z.").WithLabels({}).Set(1);
  r.AddGauge("aa", "A.").WithLabels({}).Set(2);
  const std::string text = r.Render();
  EXPECT_LT(text.find("# HELP zz"), text.find("# HELP aa"));
  EXPECT_TRUE(r.Has("zz"));
  EXPECT_FALSE(r.Has("zz_total"));
}

TEST(MetricsRegistryTest, ManySeriesStayDistinctAcrossTableGrowth) {
  MetricsRegistry r;
  CounterFamily& c = r.AddCounter("many_total", "M.", {"i"});
  std::vector<Counter*> series;
  for (int i = 0; i < 3000; ++i) {
    Counter& s = c.WithLabels({common::StrCat(i)});
    s.Inc(i);
    series.push_back(&s);
  }
  EXPECT_EQ(c.series_count(), 3000u);
  for (int i = 0; i < 3000; ++i) {
    const Counter* found = c.Find({common::StrCat(i)});
    ASSERT_EQ(found, series[static_cast<size_t>(i)]) << i;
    EXPECT_EQ(found->Value(), i);
  }
  EXPECT_EQ(CountLines(r.Render(), "many_total{"), 3000u);
}

TEST(MetricsRegistryTest, SeriesPastTheCapGoToAnUnexposedSink) {
  MetricsRegistry r;
  CounterFamily& c = r.AddCounter("cap_total", "C.", {"i"});
  for (size_t i = 0; i < CounterFamily::kMaxSeries; ++i) {
    c.WithLabels({common::StrCat(i)}).Inc();
  }
  Counter& over1 = c.WithLabels({"over-1"});
  Counter& over2 = c.WithLabels({"over-2"});
  over1.Inc(5);
  EXPECT_EQ(&over1, &over2);
  EXPECT_EQ(c.series_count(), CounterFamily::kMaxSeries);
  EXPECT_EQ(c.Find({"over-1"}), nullptr);
  const std::string text = r.Render();
  EXPECT_EQ(text.find("over-"), std::string::npos);
  EXPECT_EQ(CountLines(text, "cap_total{"), CounterFamily::kMaxSeries);
  // Existing series still update.
  c.WithLabels({"7"}).Inc();
  EXPECT_EQ(c.Find({"7"})->Value(), 2);
}

TEST(MetricsRegistryTest, ConcurrentUpdatesAndCreationsAreAllCounted) {
  MetricsRegistry r;
  CounterFamily& c = r.AddCounter("conc_total", "C.", {"k"});
  HistogramFamily& h = r.AddHistogram("conc_seconds", "H.", {"k"}, {1, 2});
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  constexpr int kKeys = 50;  // created concurrently by every thread
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&c, &h, &r] {
      for (int i = 0; i < kIterations; ++i) {
        const std::string key = common::StrCat(i % kKeys);
        c.WithLabels({key}).Inc();
        h.WithLabels({key}).Observe(1.5);
        if (i % 1000 == 0) {
          (void)r.Render();  // scrapes interleave with updates
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(c.series_count(), static_cast<size_t>(kKeys));
  double total = 0;
  uint64_t observed = 0;
  for (int k = 0; k < kKeys; ++k) {
    const Counter* s = c.Find({common::StrCat(k)});
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->Value(), kThreads * kIterations / kKeys);
    total += s->Value();
    const Histogram::Snapshot hs = h.Find({common::StrCat(k)})->Read();
    EXPECT_EQ(hs.buckets[1], hs.count);
    observed += hs.count;
  }
  EXPECT_EQ(total, kThreads * kIterations);
  EXPECT_EQ(observed, static_cast<uint64_t>(kThreads * kIterations));
}

TEST(MetricsRegistryDeathTest, InvalidRegistrationsAbort) {
  EXPECT_DEATH(MetricsRegistry().AddCounter("no_suffix", "h"), "CCR_CHECK");
  EXPECT_DEATH(MetricsRegistry().AddGauge("bad name", "h"), "CCR_CHECK");
  EXPECT_DEATH(MetricsRegistry().AddGauge("g", "h", {"a", "a"}), "CCR_CHECK");
  EXPECT_DEATH(MetricsRegistry().AddHistogram("h", "h", {}, {2, 1}), "CCR_CHECK");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddGauge("g", "h");
        r.AddGauge("g", "h");
      },
      "CCR_CHECK");
}

}  // namespace
}  // namespace ccrelay::stats
