#pragma once

#include "dataplane/routing/strategy.h"

namespace ccrelay::routing {

// routing.failover.primary, then the fallbacks in order. Eligible providers not named in the
// chain are not used (the chain is the operator's explicit choice).
class FailoverStrategy : public Strategy {
 public:
  // routing::Strategy
  std::string_view Name() const override { return "failover"; }
  void Rank(const RoutingTable& table, const RouteRequest& request,
            std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
            Explanation* explain) const override;
};

}  // namespace ccrelay::routing
