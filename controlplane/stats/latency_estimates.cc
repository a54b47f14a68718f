#include "controlplane/stats/latency_estimates.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "proto/stream.pb.h"

namespace ccrelay::controlplane {

void LatencyEstimates::Average::AddBatch(double mean, uint64_t n, common::MonoTime now) {
  if (n == 0) {
    return;
  }
  double first = 1;
  if (value >= 0) {
    const double dt = std::chrono::duration<double>(now - last).count();
    first = std::max(kMinWeight, 1 - std::exp2(-std::max(0.0, dt) /
                                               std::chrono::duration<double>(kHalfLife).count()));
  }
  // n samples of `mean`: what is left of the old value after all of them.
  const double keep =
      (1 - first) * std::pow(1 - kMinWeight, static_cast<double>(std::min<uint64_t>(n, 1000) - 1));
  value = value < 0 ? mean : value * keep + mean * (1 - keep);
  last = now;
}

void LatencyEstimates::AddReport(const ccrelay::v1::StatsReport& report) {
  if (report.latency_size() == 0) {
    return;
  }
  const common::MonoTime now = clock_.Now();
  absl::MutexLock lock(&mu_);
  bool changed = false;
  for (const ccrelay::v1::LatencySamples& s : report.latency()) {
    if (s.provider().empty() || s.count() == 0) {
      continue;
    }
    changed = true;
    // The model's figure, and the provider's over all its models.
    for (const std::string& model : {s.model(), std::string()}) {
      auto key = std::make_pair(s.provider(), model);
      auto it = figures_.find(key);
      if (it == figures_.end()) {
        if (figures_.size() >= kMaxFigures) {
          continue;
        }
        it = figures_.emplace(std::move(key), Figure{}).first;
      }
      Figure& f = it->second;
      f.ttft.AddBatch(static_cast<double>(s.ttft_ms_sum()) / static_cast<double>(s.count()),
                      s.count(), now);
      if (s.speed_count() > 0 && s.generation_ms() > 0) {
        f.speed.AddBatch(
            static_cast<double>(s.output_tokens()) * 1000.0 / static_cast<double>(s.generation_ms()),
            s.speed_count(), now);
      }
      f.samples += s.count();
      f.last = now;
    }
  }
  if (changed) {
    ++generation_;
  }
}

std::shared_ptr<const ccrelay::v1::RoutingEstimates> LatencyEstimates::Current() {
  const common::MonoTime now = clock_.Now();
  absl::MutexLock lock(&mu_);
  if (built_ != nullptr && built_generation_ == generation_) {
    return built_;
  }
  absl::erase_if(figures_, [now](const auto& kv) { return now - kv.second.last > kForgetAfter; });
  auto out = std::make_shared<ccrelay::v1::RoutingEstimates>();
  std::vector<const std::pair<const std::pair<std::string, std::string>, Figure>*> sorted;
  sorted.reserve(figures_.size());
  for (const auto& kv : figures_) {
    sorted.push_back(&kv);
  }
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  for (const auto* kv : sorted) {
    ccrelay::v1::LatencyEstimate* e = out->add_latency();
    e->set_provider(kv->first.first);
    e->set_model(kv->first.second);
    e->set_ttft_ms(kv->second.ttft.value);
    e->set_output_tokens_per_s(kv->second.speed.value);
    e->set_samples(kv->second.samples);
  }
  built_ = std::move(out);
  built_generation_ = generation_;
  return built_;
}

uint64_t LatencyEstimates::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

}  // namespace ccrelay::controlplane
