#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace ccrelay::routing {

struct RoutingTable;

// Ranks the providers candidate_filter admitted. `eligible` holds indices into
// RoutingTable::providers; `out` receives them in the order to try (the rest of the ranked list
// is the retry order). Implementations keep only atomics as mutable state: Rank is called
// concurrently from every worker.
class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string_view Name() const = 0;
  virtual void Rank(const RoutingTable& table, std::span<const uint32_t> eligible,
                    std::vector<uint32_t>* out) const = 0;
};

using StrategyPtr = std::unique_ptr<Strategy>;

// The strategy for a (normalised) name: shuffle, round-robin, failover, least-busy; nullptr if
// unknown.
StrategyPtr CreateStrategy(std::string_view name);

}  // namespace ccrelay::routing
