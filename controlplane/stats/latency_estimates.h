#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

#include "dataplane/common/clock.h"

namespace ccrelay::v1 {
class StatsReport;
class RoutingEstimates;
}  // namespace ccrelay::v1

namespace ccrelay::controlplane {

// The shared latency estimates of latency-based routing: every data plane's latency samples
// (StatsReport.latency, per provider and routed model) folded into moving averages of time to
// first token and output tokens per second, per (provider, model) and per provider over all its
// models (model ""). A report's batch of n samples with mean m moves a figure as n samples of m
// would: the first weighs max(0.25, 1 - 2^(-dt/30 s)), dt since the figure's previous batch, each
// further one 0.25 (the data plane's state::Ewma). Sent to every data plane as a RoutingEstimates
// message (state of the world) so they all rank alike. Thread-safe.
class LatencyEstimates {
 public:
  static constexpr double kMinWeight = 0.25;
  static constexpr std::chrono::seconds kHalfLife{30};
  // A figure without samples for this long is dropped.
  static constexpr std::chrono::hours kForgetAfter{1};
  // At most this many (provider, model) figures (model names come from clients).
  static constexpr size_t kMaxFigures = 2048;

  explicit LatencyEstimates(const common::Clock& clock) : clock_(clock) {}

  void AddReport(const ccrelay::v1::StatsReport& report);
  // The estimates now (built again only after a report changed them).
  std::shared_ptr<const ccrelay::v1::RoutingEstimates> Current();
  // Bumped by every report that carried samples.
  uint64_t generation() const;

 private:
  struct Average {
    double value = -1;
    common::MonoTime last{};
    void AddBatch(double mean, uint64_t n, common::MonoTime now);
  };
  struct Figure {
    Average ttft;
    Average speed;
    uint64_t samples = 0;
    common::MonoTime last{};
  };

  const common::Clock& clock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::pair<std::string, std::string>, Figure> figures_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t built_generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const ccrelay::v1::RoutingEstimates> built_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ccrelay::controlplane
