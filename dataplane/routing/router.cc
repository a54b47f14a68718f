#include "dataplane/routing/router.h"

#include <algorithm>
#include <string>
#include <utility>

#include "dataplane/common/str.h"
#include "dataplane/routing/routing_table.h"
#include "dataplane/state/key_state.h"

namespace ccrelay::routing {

namespace {

// Providers Eligible() left out, with why (explain only).
void ExplainIneligible(const RoutingTable& table, const RouteRequest& request,
                       std::string_view model, const std::vector<uint32_t>& eligible,
                       Explanation* explain) {
  for (uint32_t i = 0; i < table.providers.size(); ++i) {
    if (std::find(eligible.begin(), eligible.end(), i) != eligible.end()) {
      continue;
    }
    const ProviderEntry& p = table.providers[i];
    ExcludedProvider x;
    x.provider = i;
    if (request.count_tokens && !p.adapter->SupportsCountTokens()) {
      x.reason = common::StrCat("provider type ", p.type, " has no count_tokens");
    } else {
      x.reason = common::StrCat("does not serve model ", model);
    }
    explain->excluded.push_back(std::move(x));
  }
}

// explain->ranked in `ranked`'s order, one entry per provider (the strategy's figures kept),
// each with the model name it would be sent.
void OrderExplanation(const RoutingTable& table, std::string_view model,
                      const std::vector<uint32_t>& ranked, Explanation* explain) {
  std::vector<RankedProvider> figures = std::move(explain->ranked);
  explain->ranked.clear();
  for (uint32_t p : ranked) {
    auto it = std::find_if(figures.begin(), figures.end(),
                           [p](const RankedProvider& r) { return r.provider == p; });
    RankedProvider r;
    if (it != figures.end()) {
      r = std::move(*it);
    }
    r.provider = p;
    r.model = std::string(table.providers[p].MapModel(model));
    explain->ranked.push_back(std::move(r));
  }
}

// The first rule that matches and that the user may use (every rule without a user restriction).
const Rule* FirstAllowedRule(const RoutingTable& table, const RouteRequest& request) {
  const CompiledUser* user = request.user;
  if (user == nullptr || !user->restricts_rules()) {
    return FirstMatchingRule(table.rules, request, table.background_models);
  }
  for (size_t i = 0; i < table.rules.size(); ++i) {
    if (user->rule_allowed[i] != 0 && table.rules[i].Matches(request, table.background_models)) {
      return &table.rules[i];
    }
  }
  return nullptr;
}

// Leaves out of `eligible` the providers the user may not use (allowed_providers).
void KeepUserProviders(const RoutingTable& table, const RouteRequest& request,
                       std::vector<uint32_t>* eligible, Explanation* explain) {
  const CompiledUser* user = request.user;
  if (user == nullptr || !user->restricts_providers()) {
    return;
  }
  std::erase_if(*eligible, [&](uint32_t p) {
    if (user->provider_allowed[p] != 0) {
      return false;
    }
    if (explain != nullptr) {
      explain->excluded.push_back(ExcludedProvider{
          p, common::StrCat("not in user ", user->name, "'s allowed_providers")});
    }
    return true;
  });
  (void)table;
}

using Ms = std::chrono::duration<double, std::milli>;

// Latency samples (state::LatencyTracker): a complete 2xx answer gives its time to first token
// and, streamed, its output speed. An attempt that got no byte of an answer (a first-byte
// timeout, a dead connection, the client leaving first) after waiting longer than the current
// estimate gives that wait as a lower bound. Other failures are the breakers' business.
void LearnLatency(state::ProviderState& p, const Outcome& o) {
  if (o.count_tokens || o.sent == std::chrono::steady_clock::time_point() || o.end < o.sent) {
    return;
  }
  // first_token may be an earlier attempt's: then this one had no answer.
  if (o.first_token == std::chrono::steady_clock::time_point() || o.first_token < o.sent) {
    p.latency.AddLowerBound(o.model, Ms(o.end - o.sent).count(), o.end);
    return;
  }
  if (o.status < 200 || o.status >= 300 || !o.complete) {
    return;
  }
  state::LatencySample sample;
  sample.ttft_ms = Ms(o.first_token - o.sent).count();
  sample.output_tokens = o.output_tokens;
  if (o.stream && o.end >= o.first_token) {
    sample.generation_ms = Ms(o.end - o.first_token).count();
  }
  p.latency.Add(o.model, sample, o.end);
}

}  // namespace

void Route(const RoutingTable& table, const RouteRequest& request, std::vector<uint32_t>* ranked,
           RouteDecision* decision, Explanation* explain) {
  thread_local std::vector<uint32_t> eligible;
  thread_local std::vector<uint32_t> in_rule;
  thread_local std::vector<uint32_t> rest;
  const Rule* rule = FirstAllowedRule(table, request);
  decision->model = request.model;
  decision->rule = {};
  decision->rule_providers = 0;
  decision->user_refused = false;
  if (rule == nullptr && request.user != nullptr && !request.user->default_route_allowed) {
    decision->user_refused = true;
    decision->strategy = table.strategy->Name();
    ranked->clear();
    if (explain != nullptr) {
      explain->model = std::string(request.model);
      explain->strategy = std::string(decision->strategy);
    }
    return;
  }
  const Strategy* strategy = table.strategy.get();
  if (rule != nullptr) {
    decision->rule = rule->name;
    if (!rule->model.empty()) {
      decision->model = rule->model;
    }
    if (rule->strategy) {
      strategy = rule->strategy.get();
    }
  }
  decision->strategy = strategy->Name();

  table.Eligible(decision->model, request.count_tokens, &eligible);
  if (explain != nullptr) {
    explain->rule = std::string(decision->rule);
    explain->model = std::string(decision->model);
    explain->strategy = std::string(decision->strategy);
    ExplainIneligible(table, request, decision->model, eligible, explain);
  }
  KeepUserProviders(table, request, &eligible, explain);
  // The strategies see the routed model (a rule's override), which model_mapping then maps.
  RouteRequest routed = request;
  routed.model = decision->model;
  if (rule == nullptr) {
    strategy->Rank(table, routed, eligible, ranked, explain);
    if (explain != nullptr) {
      OrderExplanation(table, decision->model, *ranked, explain);
    }
    return;
  }
  // The rule's providers that can take the request, in the rule's order; then (fallback) the
  // other eligible ones, ranked by the table's strategy as if no rule had matched.
  in_rule.clear();
  for (const uint32_t p : rule->providers) {
    if (std::find(eligible.begin(), eligible.end(), p) != eligible.end()) {
      in_rule.push_back(p);
    }
  }
  std::erase_if(eligible, [&](uint32_t p) {
    return std::find(rule->providers.begin(), rule->providers.end(), p) != rule->providers.end();
  });
  strategy->Rank(table, routed, in_rule, ranked, explain);
  decision->rule_providers = static_cast<uint32_t>(ranked->size());
  if (rule->fallback) {
    table.strategy->Rank(table, routed, eligible, &rest, explain);
    ranked->insert(ranked->end(), rest.begin(), rest.end());
  } else if (explain != nullptr) {
    for (const uint32_t p : eligible) {
      explain->excluded.push_back(ExcludedProvider{
          p, common::StrCat("not in rule ", rule->name, "'s providers (fallback: false)")});
    }
  }
  if (explain != nullptr) {
    OrderExplanation(table, decision->model, *ranked, explain);
    for (size_t i = decision->rule_providers; i < explain->ranked.size(); ++i) {
      std::string& note = explain->ranked[i].note;
      note = common::StrCat("fallback: not in rule ", rule->name, "'s providers",
                            note.empty() ? "" : "; ", note);
    }
  }
}

void Learn(const RoutingTable& table, const Outcome& outcome) {
  if (outcome.provider >= table.providers.size()) {
    return;
  }
  // cost-based: output tokens per routed model, from complete answers that report usage.
  if (outcome.status >= 200 && outcome.status < 300 && outcome.complete &&
      outcome.output_tokens >= 0 && table.output_tokens) {
    table.output_tokens->Observe(outcome.model, outcome.output_tokens);
  }
  LearnLatency(*table.providers[outcome.provider].state, outcome);
}

}  // namespace ccrelay::routing
