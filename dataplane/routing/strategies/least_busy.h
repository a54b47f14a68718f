#pragma once

#include <atomic>

#include "dataplane/routing/strategy.h"

namespace ccrelay::routing {

// The provider with the fewest requests in flight for its capacity first: attempts sent by this
// data plane and not finished (state::ProviderState::in_flight) divided by the provider's weight
// (providers[].weight, by default the sum of its keys' weights, so a provider with more keys
// takes proportionally more). Ties, such as an idle relay, go round-robin so that they spread.
// Headroom, cooldowns and breakers are the candidate picker's, as for every strategy: a provider
// whose keys are out of headroom is skipped there.
class LeastBusyStrategy : public Strategy {
 public:
  // routing::Strategy
  std::string_view Name() const override { return "least-busy"; }
  void Rank(const RoutingTable& table, const RouteRequest& request,
            std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
            Explanation* explain) const override;

 private:
  mutable std::atomic<uint64_t> cursor_{0};
};

}  // namespace ccrelay::routing
