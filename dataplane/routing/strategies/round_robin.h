#pragma once

#include <atomic>

#include "dataplane/routing/strategy.h"

namespace ccrelay::routing {

// Each request starts one provider further along the eligible list; the rest follow in order.
class RoundRobinStrategy : public Strategy {
 public:
  // routing::Strategy
  std::string_view Name() const override { return "round-robin"; }
  void Rank(const RoutingTable& table, const RouteRequest& request,
            std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
            Explanation* explain) const override;

 private:
  mutable std::atomic<uint64_t> cursor_{0};
};

}  // namespace ccrelay::routing
