#include "dataplane/routing/strategies/least_busy.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/container/inlined_vector.h"

#include "dataplane/routing/explanation.h"
#include "dataplane/routing/routing_table.h"

namespace ccrelay::routing {

void LeastBusyStrategy::Rank(const RoutingTable& table, const RouteRequest& /*request*/,
                             std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
                             Explanation* explain) const {
  out->clear();
  if (eligible.empty()) {
    return;
  }
  // The counts are read once: other workers change them while this sorts.
  struct Load {
    int64_t in_flight;
    uint32_t weight;
    uint32_t provider;
  };
  absl::InlinedVector<Load, 8> loads;
  const size_t start = cursor_.fetch_add(1, std::memory_order_relaxed) % eligible.size();
  for (size_t i = 0; i < eligible.size(); ++i) {
    const uint32_t p = eligible[(start + i) % eligible.size()];
    const ProviderEntry& e = table.providers[p];
    loads.push_back(Load{std::max<int64_t>(0, e.state->in_flight.load(std::memory_order_relaxed)),
                         std::max<uint32_t>(1, e.weight), p});
  }
  // a before b when a.in_flight / a.weight < b.in_flight / b.weight; stable: ties keep the
  // rotated order.
  std::stable_sort(loads.begin(), loads.end(), [](const Load& a, const Load& b) {
    return a.in_flight * static_cast<int64_t>(b.weight) <
           b.in_flight * static_cast<int64_t>(a.weight);
  });
  for (const Load& l : loads) {
    out->push_back(l.provider);
    if (explain != nullptr) {
      RankedProvider r;
      r.provider = l.provider;
      r.in_flight = l.in_flight;
      r.score = static_cast<double>(l.in_flight) / l.weight;
      explain->ranked.push_back(std::move(r));
    }
  }
}

}  // namespace ccrelay::routing
