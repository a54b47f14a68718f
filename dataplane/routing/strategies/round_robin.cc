#include "dataplane/routing/strategies/round_robin.h"

namespace ccrelay::routing {

void RoundRobinStrategy::Rank(const RoutingTable& /*table*/, const RouteRequest& /*request*/,
                              std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
                              Explanation* /*explain*/) const {
  out->clear();
  if (eligible.empty()) {
    return;
  }
  const size_t start = cursor_.fetch_add(1, std::memory_order_relaxed) % eligible.size();
  for (size_t i = 0; i < eligible.size(); ++i) {
    out->push_back(eligible[(start + i) % eligible.size()]);
  }
}

}  // namespace ccrelay::routing
