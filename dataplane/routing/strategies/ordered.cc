#include "dataplane/routing/strategies/ordered.h"

namespace ccrelay::routing {

void OrderedStrategy::Rank(const RoutingTable& /*table*/, const RouteRequest& /*request*/,
                           std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
                           Explanation* /*explain*/) const {
  out->assign(eligible.begin(), eligible.end());
}

}  // namespace ccrelay::routing
