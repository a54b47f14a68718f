#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ccrelay::routing {

// Why a request goes where it goes (`cc-relayctl route explain`). Filled by Route() and the
// strategy only when asked (a non-null Explanation*): the request path passes nullptr and pays
// nothing for it.
struct RankedProvider {
  uint32_t provider = 0;          // index into RoutingTable::providers
  std::string model;              // the model name it would be sent (mapping applied)
  // The figures the strategy ranked by; negative: not used by this strategy or unknown.
  double expected_cost_usd = -1;  // cost-based: expected cost of this request
  double ttft_ms = -1;            // latency-based: estimated time to first token
  double output_tokens_per_s = -1;
  double score = -1;              // the strategy's own score (lower first), when it has one
  int64_t in_flight = -1;         // least-busy: attempts in flight on this data plane
  double capacity = -1;           // least-busy: weight × the share of its keys with headroom
  std::string note;               // e.g. "explored", "no data yet: tried first", "cheapest"
};

struct ExcludedProvider {
  uint32_t provider = 0;
  std::string reason;  // e.g. "does not serve model claude-x", "context window 128000 < 190000"
};

struct Explanation {
  std::string rule;          // the scenario rule that matched ("" none)
  std::string model;         // the model routed (a rule's override, else the requested one)
  std::string strategy;      // the strategy that ranked
  std::vector<RankedProvider> ranked;      // in the order they would be tried
  std::vector<ExcludedProvider> excluded;  // left out, with why
};

}  // namespace ccrelay::routing
