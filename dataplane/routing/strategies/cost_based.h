#pragma once

#include <atomic>
#include <cstdint>

#include "dataplane/routing/strategy.h"

namespace ccrelay::routing {

struct RoutingTable;

// Expected output tokens of a request on `model` (the routed model): the learned mean
// (state::OutputTokenEstimator) capped by max_tokens; before any sample min(max_tokens,
// kDefaultOutputTokens) (kDefaultOutputTokens when max_tokens is absent).
inline constexpr int64_t kDefaultOutputTokens = 1000;
int64_t ExpectedOutputTokens(const RoutingTable& table, std::string_view model,
                             int64_t max_tokens);

// The provider (and mapped model) with the lowest expected cost of this request first
// (SPEC.md, cost-based): estimated input tokens x input price + expected output tokens x output
// price, from the provider's price table (providers[].pricing, built-in Claude and GLM prices;
// ollama costs 0; a model without a price ranks after every priced one). Providers that cannot
// handle the request (context window, thinking, images, server tools, the quality floor) are
// left out, unless that would leave none. At or above routing.cost_based.threshold_tokens the
// highest tier goes first, then the cheapest. Equal costs go round-robin so that they spread.
class CostBasedStrategy : public Strategy {
 public:
  // routing::Strategy
  std::string_view Name() const override { return "cost-based"; }
  void Rank(const RoutingTable& table, const RouteRequest& request,
            std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
            Explanation* explain) const override;

 private:
  mutable std::atomic<uint64_t> cursor_{0};
};

}  // namespace ccrelay::routing
