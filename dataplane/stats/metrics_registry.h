#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/stats/prometheus_text.h"
#include "dataplane/stats/series_map.h"

namespace ccrelay::stats {

// In-house Prometheus metrics (prometheus-cpp is not packaged for Debian 12): counters, gauges
// and histograms with labels, exposed in the text format 0.0.4.
//
// Threading: families are registered first, on one thread, before the registry is shared.
// After that, any thread may update series concurrently: finding an existing series takes no
// lock (SeriesMap) and an update is a relaxed atomic operation; only the first use of a label
// combination takes a small per-family mutex. Render() may run at any time.

// A monotonically increasing value. Negative increments are ignored.
class Counter {
 public:
  void Inc(double delta = 1) {
    if (delta > 0) {
      value_.fetch_add(delta, std::memory_order_relaxed);
    }
  }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (upper bounds, inclusive, as Prometheus' `le`).
class Histogram {
 public:
  // `bounds` (sorted, finite) must outlive the histogram: the family owns them.
  explicit Histogram(std::span<const double> bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<uint64_t> buckets;  // bounds.size() + 1, non-cumulative; the last is above all
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

class MetricFamilyBase {
 public:
  MetricFamilyBase(std::string name, std::string help, MetricType type,
                   std::vector<std::string> label_names);
  virtual ~MetricFamilyBase() = default;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Writes HELP, TYPE and every series (sorted by label values); nothing when there is none.
  virtual void Render(PrometheusTextWriter& writer) const = 0;

 private:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
};

// Every series of one metric, by label values.
template <typename T>
class MetricFamily : public MetricFamilyBase {
 public:
  // Most series per family: past it, new label combinations update a sink that is never
  // exposed (a bug or a hostile client must not exhaust memory or the scraper).
  static constexpr size_t kMaxSeries = 10000;

  MetricFamily(std::string name, std::string help, MetricType type,
               std::vector<std::string> label_names, std::vector<double> bounds = {});

  // The series of these label values, one per label name, in the order of label_names().
  T& WithLabels(std::span<const std::string_view> values);
  T& WithLabels(std::initializer_list<std::string_view> values) {
    return WithLabels(std::span<const std::string_view>(values.begin(), values.size()));
  }
  // The series, if it exists (tests).
  const T* Find(std::initializer_list<std::string_view> values) const {
    return series_.Find(std::span<const std::string_view>(values.begin(), values.size()));
  }
  size_t series_count() const { return series_.size(); }

  // MetricFamilyBase
  void Render(PrometheusTextWriter& writer) const override;

 private:
  std::vector<double> bounds_;  // histograms only
  SeriesMap<T> series_;
  T overflow_;
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

class MetricsRegistry {
 public:
  // Registration: before the registry is shared. Names and label names must be valid and
  // unique (a programming error aborts). Counter names end in "_total".
  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {});
  // `bounds`: sorted, finite, non-empty.
  HistogramFamily& AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names, std::vector<double> bounds);

  // Every family, in registration order.
  void Render(std::string* out) const;
  std::string Render() const;

  // True if a family of this name is registered (the names a scrape can expose).
  bool Has(std::string_view name) const;

 private:
  void CheckNew(const std::string& name, const std::vector<std::string>& label_names) const;

  std::vector<std::unique_ptr<MetricFamilyBase>> families_;
};

}  // namespace ccrelay::stats
