#pragma once

#include "dataplane/routing/strategy.h"

namespace ccrelay::routing {

// A scenario rule's `strategy: ordered` (and `failover`): its providers in the order the rule
// lists them, the first first (Route() hands them over in that order). Not a routing.strategy:
// only rules have an ordered list of their own.
class OrderedStrategy : public Strategy {
 public:
  // routing::Strategy
  std::string_view Name() const override { return "ordered"; }
  void Rank(const RoutingTable& table, const RouteRequest& request,
            std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
            Explanation* explain) const override;
};

}  // namespace ccrelay::routing
