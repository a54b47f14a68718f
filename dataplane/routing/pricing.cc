#include "dataplane/routing/pricing.h"

#include <vector>

namespace ccrelay::routing {

namespace {

constexpr ModelPrice kOpus4 = {15, 75, 1.5, 18.75};
constexpr ModelPrice kOpus45 = {5, 25, 0.5, 6.25};
constexpr ModelPrice kSonnet = {3, 15, 0.3, 3.75};
constexpr ModelPrice kHaiku45 = {1, 5, 0.1, 1.25};
constexpr ModelPrice kHaiku35 = {0.8, 4, 0.08, 1};
constexpr ModelPrice kHaiku3 = {0.25, 1.25, 0.03, 0.3};

// First match wins: specific versions before a family's catch-all (which carries the newest
// price of that family, the likeliest for a model released after this table). Written as in
// `providers[].pricing`.
const std::vector<PriceRule>& BuiltinRules() {
  static const auto* const rules = new std::vector<PriceRule>{
      {ModelPattern("claude-opus-4"), kOpus4},
      {ModelPattern("claude-opus-4@*"), kOpus4},
      {ModelPattern("claude-opus-4-0*"), kOpus4},
      {ModelPattern("claude-opus-4-1*"), kOpus4},
      {ModelPattern("claude-opus-4-20*"), kOpus4},  // claude-opus-4-20250514
      {ModelPattern("claude-opus-*"), kOpus45},     // claude-opus-4-5 and later
      {ModelPattern("claude-3-opus*"), kOpus4},
      {ModelPattern("claude-sonnet-*"), kSonnet},
      {ModelPattern("claude-3-7-sonnet*"), kSonnet},
      {ModelPattern("claude-3-5-sonnet*"), kSonnet},
      {ModelPattern("claude-3-sonnet*"), kSonnet},
      {ModelPattern("claude-3-5-haiku*"), kHaiku35},
      {ModelPattern("claude-3-haiku*"), kHaiku3},
      {ModelPattern("claude-haiku-*"), kHaiku45},  // claude-haiku-4-5 and later
  };
  return *rules;
}

const ModelPrice* FirstMatch(const std::vector<PriceRule>& rules, std::string_view model) {
  for (const PriceRule& rule : rules) {
    if (rule.model.Matches(model)) {
      return &rule.price;
    }
  }
  return nullptr;
}

double Tokens(int64_t n) { return n > 0 ? static_cast<double>(n) : 0.0; }

}  // namespace

double CostUsd(const ModelPrice& price, const http::Usage& usage) {
  return (Tokens(usage.input_tokens) * price.input_per_mtok +
          Tokens(usage.output_tokens) * price.output_per_mtok +
          Tokens(usage.cache_read_input_tokens) * price.cache_read_per_mtok +
          Tokens(usage.cache_creation_input_tokens) * price.cache_write_per_mtok) /
         1e6;
}

const ModelPrice* BuiltinClaudePrice(std::string_view model) {
  const size_t at = model.find("claude-");
  if (at == std::string_view::npos) {
    return nullptr;
  }
  return FirstMatch(BuiltinRules(), model.substr(at));
}

bool UsesBuiltinClaudePrices(std::string_view provider_type) {
  return provider_type == "anthropic" || provider_type == "bedrock" || provider_type == "vertex" ||
         provider_type == "azure";
}

const ModelPrice* PriceTable::Find(std::string_view model) const {
  if (const ModelPrice* price = FirstMatch(rules_, model); price != nullptr) {
    return price;
  }
  return builtin_claude_ ? BuiltinClaudePrice(model) : nullptr;
}

double PriceTable::Cost(std::string_view model, const http::Usage& usage) const {
  const ModelPrice* price = Find(model);
  return price == nullptr ? 0.0 : CostUsd(*price, usage);
}

}  // namespace ccrelay::routing
