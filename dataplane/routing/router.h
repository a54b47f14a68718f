#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "dataplane/routing/explanation.h"
#include "dataplane/routing/route_request.h"

namespace ccrelay::routing {

struct RoutingTable;

// What Route() decided besides the ranked list.
struct RouteDecision {
  // The model routing used: a matched rule's model override, else the requested model. Each
  // provider's model_mapping applies to it (ProviderEntry::MapModel); it views the table or the
  // request, which outlive the exchange's use of it.
  std::string_view model;
  std::string_view rule;      // the matched scenario rule's name ("" none)
  std::string_view strategy;  // the strategy that ranked
  // With a rule: how many leading entries of the ranked list are the rule's own providers (the
  // rest, with `fallback`, are the others). Session affinity looks only at those.
  uint32_t rule_providers = 0;
  // The user's allowed_rules leave this request no route (no allowed rule matches and the
  // default route is not allowed): `ranked` is empty.
  bool user_refused = false;
};

// The one routing path, for requests and for `route explain` alike: the scenario rules in order
// (the first that matches narrows the providers and may override the model), then the providers
// serving the model ranked by the rule's strategy or the table's. `explain` (null on the
// request path) receives the matched rule, each ranked provider with the figures that ranked it,
// and each provider left out with why.
void Route(const RoutingTable& table, const RouteRequest& request, std::vector<uint32_t>* ranked,
           RouteDecision* decision, Explanation* explain);

// What one attempt showed, for the strategies that learn (latency-based estimates, cost-based's
// expected output per model). Fed by the exchange when a request ends, for its last attempt.
struct Outcome {
  uint32_t provider = 0;     // index into the table the request was routed with
  std::string_view model;    // the routed model (RouteDecision::model, before mapping)
  int status = 0;            // the upstream's status (0: no answer)
  bool stream = false;       // the answer was an SSE stream
  bool count_tokens = false; // POST /v1/messages/count_tokens (no generation: not timed)
  bool complete = false;     // the answer ended normally (not cut, not abandoned by the client)
  std::chrono::steady_clock::time_point sent;         // the attempt's request was written
  std::chrono::steady_clock::time_point first_token;  // first content event (epoch: none)
  std::chrono::steady_clock::time_point end;          // the answer's last byte
  int64_t input_tokens = -1;   // usage reported (-1: unknown)
  int64_t output_tokens = -1;
  int64_t max_tokens = 0;      // the request's max_tokens (0: absent)
};

// Feeds an outcome to the learned state the table's providers share across reloads.
void Learn(const RoutingTable& table, const Outcome& outcome);

}  // namespace ccrelay::routing
