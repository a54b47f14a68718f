#pragma once

#include <atomic>

#include "dataplane/common/clock.h"
#include "dataplane/routing/strategy.h"

namespace ccrelay::routing {

// The provider with the fewest requests in flight for its capacity first: attempts sent by this
// data plane and not finished (state::ProviderState::in_flight) divided by the provider's
// capacity now. Capacity = the provider's weight (providers[].weight, by default the sum of its
// keys' weights, so a provider with more keys takes proportionally more) × the weighted share of
// its keys that have headroom (state::KeyState::Headroom: a key out of headroom counts 0, one
// running low 0.5), read without a lock. A provider with no capacity left goes after those with
// some. Ties, such as an idle relay, go round-robin so that they spread. The candidate picker
// still skips keys without headroom, as for every strategy.
class LeastBusyStrategy : public Strategy {
 public:
  explicit LeastBusyStrategy(const common::Clock* clock = &common::RealClock::Get())
      : clock_(clock) {}

  // routing::Strategy
  std::string_view Name() const override { return "least-busy"; }
  void Rank(const RoutingTable& table, const RouteRequest& request,
            std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
            Explanation* explain) const override;

 private:
  const common::Clock* clock_;
  mutable std::atomic<uint64_t> cursor_{0};
};

}  // namespace ccrelay::routing
