#include "dataplane/routing/strategies/failover.h"

#include <algorithm>

#include "dataplane/routing/routing_table.h"

namespace ccrelay::routing {

void FailoverStrategy::Rank(const RoutingTable& table, const RouteRequest& /*request*/,
                            std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
                            Explanation* /*explain*/) const {
  out->clear();
  for (uint32_t idx : table.failover_chain) {
    if (std::find(eligible.begin(), eligible.end(), idx) != eligible.end()) {
      out->push_back(idx);
    }
  }
}

}  // namespace ccrelay::routing
