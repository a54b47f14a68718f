#include "dataplane/routing/strategies/shuffle.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include "dataplane/routing/routing_table.h"

namespace ccrelay::routing {

namespace {
std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}
}  // namespace

void ShuffleStrategy::Rank(const RoutingTable& table, const RouteRequest& /*request*/,
                           std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
                           Explanation* /*explain*/) const {
  out->clear();
  if (eligible.size() <= 1) {
    out->assign(eligible.begin(), eligible.end());
    return;
  }
  std::uniform_real_distribution<double> uniform(1e-12, 1.0);
  std::vector<std::pair<double, uint32_t>> keyed;
  keyed.reserve(eligible.size());
  for (uint32_t idx : eligible) {
    double w = std::max<uint32_t>(1, table.providers[idx].weight);
    keyed.emplace_back(std::pow(uniform(Rng()), 1.0 / w), idx);
  }
  std::sort(keyed.begin(), keyed.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [_, idx] : keyed) {
    out->push_back(idx);
  }
}

}  // namespace ccrelay::routing
