#pragma once

#include "dataplane/routing/strategy.h"

namespace ccrelay::routing {

// Weighted random order (Efraimidis–Spirakis): a provider of weight w comes first with
// probability w / sum(w); the rest of the order is the retry order.
class ShuffleStrategy : public Strategy {
 public:
  // routing::Strategy
  std::string_view Name() const override { return "shuffle"; }
  void Rank(const RoutingTable& table, const RouteRequest& request,
            std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
            Explanation* explain) const override;
};

}  // namespace ccrelay::routing
