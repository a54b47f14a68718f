#pragma once

#include <atomic>
#include <cstdint>

#include "dataplane/common/clock.h"
#include "dataplane/routing/strategy.h"

namespace ccrelay::v1 {
class LatencyBased;
}

namespace ccrelay::routing {

// routing.latency_based (SPEC.md "latency-based"); RoutingTable::latency.
struct LatencyOptions {
  double explore_share = 0.05;          // of requests put another provider first (0: never)
  double outlier_factor = 3;            // set aside: expected time above factor x the best ...
  double outlier_margin_ms = 2000;      // ... and more than this above it
  double tolerance = 0.1;               // within this share of the best (or kTieMs): a tie
  int64_t expected_output_tokens = 500; // output assumed per request (max_tokens caps it)
};

// The snapshot's options, defaults for what is absent or zero.
LatencyOptions CompileLatencyOptions(const ccrelay::v1::LatencyBased& options);

// The provider expected to answer this request soonest first: per provider the expected time
// = time to first token + expected output / output tokens per second, from
// state::LatencyTracker (this data plane's fresh samples, else the control plane's shared
// estimates; for the routed model, else the provider over all its models). Expected output =
// min(max_tokens, expected_output_tokens). A provider without a speed figure takes the mean of
// the others' (none known: time to first token alone).
//
// Order: providers with no data yet for the model (fewer than LatencyTracker::kWarmSamples
// samples) first, in turn; then by expected time, those within the tolerance of the best
// (tolerance x best, at least kTieMs) taking turns; then outliers (expected time above
// outlier_factor x the best and more than outlier_margin_ms above it), set aside like an open
// breaker. explore_share of requests (an exact share: every 1/share-th) put one of the others
// first, in turn over every position after the first, outliers included, so their estimates stay
// current and a provider that got fast again comes back.
class LatencyBasedStrategy : public Strategy {
 public:
  static constexpr double kTieMs = 50;

  explicit LatencyBasedStrategy(const common::Clock* clock = &common::RealClock::Get())
      : clock_(clock) {}

  // routing::Strategy
  std::string_view Name() const override { return "latency-based"; }
  void Rank(const RoutingTable& table, const RouteRequest& request,
            std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
            Explanation* explain) const override;

 private:
  const common::Clock* clock_;
  mutable std::atomic<uint64_t> requests_{0};  // exploration share
  mutable std::atomic<uint64_t> explore_cursor_{0};
  mutable std::atomic<uint64_t> tie_cursor_{0};
};

}  // namespace ccrelay::routing
