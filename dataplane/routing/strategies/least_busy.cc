#include "dataplane/routing/strategies/least_busy.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/container/inlined_vector.h"

#include "dataplane/common/str.h"
#include "dataplane/routing/explanation.h"
#include "dataplane/routing/routing_table.h"

namespace ccrelay::routing {

namespace {

// The weighted share of the provider's keys with headroom now (1 without keys: the client's own
// credentials pass through).
double KeyHeadroom(const ProviderEntry& e, common::MonoTime now) {
  if (e.keys.empty()) {
    return 1;
  }
  double usable = 0;
  double total = 0;
  for (const KeyEntry& k : e.keys) {
    const double w = std::max<uint32_t>(1, k.weight);
    total += w;
    if (!k.expired(now)) {
      usable += w * k.state->Headroom(now);
    }
  }
  return usable / total;
}

}  // namespace

void LeastBusyStrategy::Rank(const RoutingTable& table, const RouteRequest& /*request*/,
                             std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
                             Explanation* explain) const {
  out->clear();
  if (eligible.empty()) {
    return;
  }
  const common::MonoTime now = clock_->Now();
  // The counts are read once: other workers change them while this sorts.
  struct Load {
    int64_t in_flight;
    double capacity;  // weight × key headroom share; 0: none left
    uint32_t provider;
  };
  absl::InlinedVector<Load, 8> loads;
  const size_t start = cursor_.fetch_add(1, std::memory_order_relaxed) % eligible.size();
  for (size_t i = 0; i < eligible.size(); ++i) {
    const uint32_t p = eligible[(start + i) % eligible.size()];
    const ProviderEntry& e = table.providers[p];
    loads.push_back(Load{std::max<int64_t>(0, e.state->in_flight.load(std::memory_order_relaxed)),
                         std::max<uint32_t>(1, e.weight) * KeyHeadroom(e, now), p});
  }
  // a before b when a has capacity and b has none, else when a.in_flight / a.capacity <
  // b.in_flight / b.capacity (among those without capacity: fewer in flight); stable: ties
  // keep the rotated order.
  std::stable_sort(loads.begin(), loads.end(), [](const Load& a, const Load& b) {
    const bool a_has = a.capacity > 0;
    const bool b_has = b.capacity > 0;
    if (a_has != b_has) {
      return a_has;
    }
    if (!a_has) {
      return a.in_flight < b.in_flight;
    }
    return static_cast<double>(a.in_flight) * b.capacity <
           static_cast<double>(b.in_flight) * a.capacity;
  });
  for (const Load& l : loads) {
    out->push_back(l.provider);
    if (explain != nullptr) {
      RankedProvider r;
      r.provider = l.provider;
      r.in_flight = l.in_flight;
      r.capacity = l.capacity;
      r.score = l.capacity > 0 ? static_cast<double>(l.in_flight) / l.capacity : -1;
      if (l.capacity <= 0) {
        r.note = "no key with headroom";
      }
      explain->ranked.push_back(std::move(r));
    }
  }
}

}  // namespace ccrelay::routing
