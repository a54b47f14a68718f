#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace ccrelay::routing {

struct RoutingTable;
struct RouteRequest;
struct Explanation;

// Ranks the providers Route() admitted for one request. `eligible` holds indices into
// RoutingTable::providers; `out` receives them in the order to try (the rest of the ranked list
// is the retry order). A strategy may leave out a provider that cannot handle the request
// (cost-based: context window, capabilities); with `explain` set it then says why in
// explain->excluded, and appends the figures it ranked by to explain->ranked (in `out`'s
// order). `explain` is null on the request path. Implementations keep only atomics as mutable
// state (learned figures live in state::ProviderState): Rank is called concurrently from every
// worker.
class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string_view Name() const = 0;
  virtual void Rank(const RoutingTable& table, const RouteRequest& request,
                    std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
                    Explanation* explain) const = 0;
};

using StrategyPtr = std::unique_ptr<Strategy>;

// The strategy for a (normalised) name: shuffle, round-robin, failover, least-busy, cost-based,
// latency-based; nullptr if unknown.
StrategyPtr CreateStrategy(std::string_view name);

}  // namespace ccrelay::routing
