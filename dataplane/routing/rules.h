#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "dataplane/routing/model_pattern.h"
#include "dataplane/routing/route_request.h"
#include "dataplane/routing/strategy.h"

namespace ccrelay::v1 {
class Routing;
}

namespace ccrelay::routing {

// Claude Code's small-model calls (the session title, other background work) ask for the model
// ANTHROPIC_DEFAULT_HAIKU_MODEL names, a Haiku unless changed: routing.background_models when
// the config gives none.
inline constexpr std::string_view kDefaultBackgroundModel = "*haiku*";

// A request header a rule matches: present, and its value matches the glob.
struct HeaderCondition {
  std::string name;  // lower case
  Glob value;
};

// One compiled `routing.rules` entry (SPEC.md "Scenario rules"). Immutable once compiled; the
// strategy keeps only atomics, so every worker may use it at once.
struct Rule {
  std::string name;
  // The match: every condition set holds (an unset one matches anything).
  std::vector<Glob> models;                // any of them matches the requested model
  std::optional<bool> background;          // the requested model matches background_models
  std::optional<bool> thinking;
  std::optional<bool> images;
  int64_t long_context = 0;                // > 0: estimated input tokens above it
  uint32_t tools = 0;                      // http::ServerTool bits: any of them present
  std::vector<HeaderCondition> headers;    // all of them
  std::vector<std::string> users;          // any of them is the relay key's user (client_key)
  // The target.
  std::vector<uint32_t> providers;  // indices into RoutingTable::providers, in the rule's order
  std::string model;                // the routed model ("": the requested one)
  // Ranks `providers`: the rule's `strategy`; OrderedStrategy for "ordered", "failover", and
  // for no strategy under routing.strategy failover; null: the table's strategy.
  StrategyPtr strategy;
  bool fallback = true;             // then the other eligible providers, by the table's strategy

  // Whether `request` meets every condition. `background_models`: the table's globs.
  bool Matches(const RouteRequest& request, std::span<const Glob> background_models) const;
};

// The first rule that matches `request`, or nullptr.
const Rule* FirstMatchingRule(std::span<const Rule> rules, const RouteRequest& request,
                              std::span<const Glob> background_models);

// Compiles `routing.rules` and `routing.background_models` of a snapshot. Provider names resolve
// through `index_by_name` (enabled providers; a name not there, i.e. a disabled provider, is left
// out of the rule). Errors (the snapshot is then unusable, as for any compile error): an unknown
// strategy or server tool name, a bad glob.
absl::Status CompileRules(const ccrelay::v1::Routing& routing,
                          const absl::flat_hash_map<std::string, uint32_t>& index_by_name,
                          std::vector<Rule>* rules, std::vector<Glob>* background_models);

}  // namespace ccrelay::routing
