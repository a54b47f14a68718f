#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dataplane/http/sse_observer.h"
#include "dataplane/routing/model_pattern.h"

namespace ccrelay::routing {

// USD per million tokens of each kind.
struct ModelPrice {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
  double cache_read_per_mtok = 0;
  double cache_write_per_mtok = 0;  // cache creation (Anthropic's 5-minute cache write price)
};

// One `providers[].pricing` entry: a model name, or a prefix when written with a trailing '*'.
struct PriceRule {
  ModelPattern model;
  ModelPrice price;
};

// Cost in USD of one response's usage (unknown counts, -1, count as 0).
double CostUsd(const ModelPrice& price, const http::Usage& usage);

// Anthropic's list prices for Claude models, by family, matched on the part of the name from
// "claude-" on, so Bedrock ("us.anthropic.claude-sonnet-4-5-...-v1:0") and Vertex
// ("claude-sonnet-4-5@20250929") names match too. nullptr for any other model.
const ModelPrice* BuiltinClaudePrice(std::string_view model);

// Whether a provider type serves Claude at Anthropic's list prices (the built-in table applies).
bool UsesBuiltinClaudePrices(std::string_view provider_type);

// Z.AI's pay-as-you-go prices for GLM models (glm-4.5 to glm-5.3), matched on the name ignoring
// ASCII case ("GLM-4.7" too). nullptr for any other model.
const ModelPrice* BuiltinGlmPrice(std::string_view model);

// Whether a provider type serves GLM at Z.AI's prices (zai).
bool UsesBuiltinGlmPrices(std::string_view provider_type);

// A provider's prices: its config rules in file order (first match wins), then the built-in
// Claude or GLM table when the provider type uses it; anything else costs 0 for the metrics
// (ollama, unknown models) and has no price for cost-based routing.
class PriceTable {
 public:
  PriceTable() = default;
  PriceTable(std::vector<PriceRule> rules, bool builtin_claude, bool builtin_glm = false)
      : rules_(std::move(rules)), builtin_claude_(builtin_claude), builtin_glm_(builtin_glm) {}

  // The price of `model` (the name sent upstream), or nullptr (free / unknown).
  const ModelPrice* Find(std::string_view model) const;
  double Cost(std::string_view model, const http::Usage& usage) const;

 private:
  std::vector<PriceRule> rules_;
  bool builtin_claude_ = false;
  bool builtin_glm_ = false;
};

}  // namespace ccrelay::routing
