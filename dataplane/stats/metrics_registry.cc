#include "dataplane/stats/metrics_registry.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

#include "dataplane/common/status_macros.h"

namespace ccrelay::stats {

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {
  for (size_t i = 0; i <= bounds.size(); ++i) {
    buckets_[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::Observe(double value) {
  // First bound >= value: `le` is inclusive. NaN lands above every bound.
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                       bounds_.begin());
  buckets_[std::isnan(value) ? bounds_.size() : i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.buckets.resize(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    s.count += s.buckets[i];
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

MetricFamilyBase::MetricFamilyBase(std::string name, std::string help, MetricType type,
                                   std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

namespace {

// Creates each series type with what it needs (histograms: the family's bounds).
template <typename T>
struct SeriesFactory;

template <>
struct SeriesFactory<Counter> {
  static Counter* Create(SeriesMap<Counter>& map, std::span<const std::string_view> values,
                         size_t max, const std::vector<double>& /*bounds*/) {
    return map.FindOrCreate(values, max);
  }
};

template <>
struct SeriesFactory<Gauge> {
  static Gauge* Create(SeriesMap<Gauge>& map, std::span<const std::string_view> values, size_t max,
                       const std::vector<double>& /*bounds*/) {
    return map.FindOrCreate(values, max);
  }
};

template <>
struct SeriesFactory<Histogram> {
  static Histogram* Create(SeriesMap<Histogram>& map, std::span<const std::string_view> values,
                           size_t max, const std::vector<double>& bounds) {
    return map.FindOrCreate(values, max, std::span<const double>(bounds));
  }
};

void WriteSeries(PrometheusTextWriter& w, const std::string& name, std::span<const Label> labels,
                 const Counter& c, const std::vector<double>& /*bounds*/) {
  w.Sample(name, labels, c.Value());
}
void WriteSeries(PrometheusTextWriter& w, const std::string& name, std::span<const Label> labels,
                 const Gauge& g, const std::vector<double>& /*bounds*/) {
  w.Sample(name, labels, g.Value());
}
void WriteSeries(PrometheusTextWriter& w, const std::string& name, std::span<const Label> labels,
                 const Histogram& h, const std::vector<double>& bounds) {
  const Histogram::Snapshot s = h.Read();
  w.Histogram(name, labels, bounds, s.buckets, s.sum);
}

template <typename T>
T OverflowFor(const std::vector<double>& bounds) {
  if constexpr (std::is_same_v<T, Histogram>) {
    return T(std::span<const double>(bounds));
  } else {
    return T();
  }
}

}  // namespace

template <typename T>
MetricFamily<T>::MetricFamily(std::string name, std::string help, MetricType type,
                              std::vector<std::string> label_names, std::vector<double> bounds)
    : MetricFamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
      bounds_(std::move(bounds)),
      overflow_(OverflowFor<T>(bounds_)) {}

template <typename T>
T& MetricFamily<T>::WithLabels(std::span<const std::string_view> values) {
  CCR_CHECK(values.size() == label_names().size());
  T* series = SeriesFactory<T>::Create(series_, values, kMaxSeries, bounds_);
  return series != nullptr ? *series : overflow_;
}

template <typename T>
void MetricFamily<T>::Render(PrometheusTextWriter& writer) const {
  using Node = typename SeriesMap<T>::Node;
  std::vector<const Node*> nodes;
  series_.ForEach([&nodes](const Node& n) { nodes.push_back(&n); });
  if (nodes.empty()) {
    return;
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const Node* a, const Node* b) { return a->labels < b->labels; });
  writer.Family(name(), help(), type());
  std::vector<Label> labels(label_names().size());
  for (const Node* n : nodes) {
    for (size_t i = 0; i < labels.size(); ++i) {
      labels[i] = Label(label_names()[i], n->labels[i]);
    }
    WriteSeries(writer, name(), labels, n->value, bounds_);
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

void MetricsRegistry::CheckNew(const std::string& name,
                               const std::vector<std::string>& label_names) const {
  CCR_CHECK(IsValidMetricName(name));
  CCR_CHECK(!Has(name));
  for (size_t i = 0; i < label_names.size(); ++i) {
    CCR_CHECK(IsValidLabelName(label_names[i]));
    for (size_t j = 0; j < i; ++j) {
      CCR_CHECK(label_names[i] != label_names[j]);
    }
  }
}

CounterFamily& MetricsRegistry::AddCounter(std::string name, std::string help,
                                           std::vector<std::string> label_names) {
  CheckNew(name, label_names);
  CCR_CHECK(std::string_view(name).ends_with("_total"));
  auto family = std::make_unique<CounterFamily>(std::move(name), std::move(help),
                                                MetricType::kCounter, std::move(label_names));
  CounterFamily& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

GaugeFamily& MetricsRegistry::AddGauge(std::string name, std::string help,
                                       std::vector<std::string> label_names) {
  CheckNew(name, label_names);
  auto family = std::make_unique<GaugeFamily>(std::move(name), std::move(help), MetricType::kGauge,
                                              std::move(label_names));
  GaugeFamily& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

HistogramFamily& MetricsRegistry::AddHistogram(std::string name, std::string help,
                                               std::vector<std::string> label_names,
                                               std::vector<double> bounds) {
  CheckNew(name, label_names);
  CCR_CHECK(!bounds.empty());
  for (size_t i = 0; i < bounds.size(); ++i) {
    CCR_CHECK(std::isfinite(bounds[i]));
    CCR_CHECK(i == 0 || bounds[i - 1] < bounds[i]);
  }
  auto family =
      std::make_unique<HistogramFamily>(std::move(name), std::move(help), MetricType::kHistogram,
                                        std::move(label_names), std::move(bounds));
  HistogramFamily& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

void MetricsRegistry::Render(std::string* out) const {
  PrometheusTextWriter writer(out);
  for (const auto& f : families_) {
    f->Render(writer);
  }
}

std::string MetricsRegistry::Render() const {
  std::string out;
  Render(&out);
  return out;
}

bool MetricsRegistry::Has(std::string_view name) const {
  for (const auto& f : families_) {
    if (f->name() == name) {
      return true;
    }
  }
  return false;
}

}  // namespace ccrelay::stats
