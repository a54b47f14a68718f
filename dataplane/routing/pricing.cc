#include "dataplane/routing/pricing.h"

#include <array>

namespace ccrelay::routing {

namespace {

struct BuiltinRule {
  std::string_view model;
  bool prefix;
  ModelPrice price;
};

constexpr ModelPrice kOpus4 = {15, 75, 1.5, 18.75};
constexpr ModelPrice kOpus45 = {5, 25, 0.5, 6.25};
constexpr ModelPrice kSonnet = {3, 15, 0.3, 3.75};
constexpr ModelPrice kHaiku45 = {1, 5, 0.1, 1.25};
constexpr ModelPrice kHaiku35 = {0.8, 4, 0.08, 1};
constexpr ModelPrice kHaiku3 = {0.25, 1.25, 0.03, 0.3};

// First match wins: specific versions before a family's catch-all (which carries the newest
// price of that family, the likeliest for a model released after this table).
constexpr std::array<BuiltinRule, 14> kBuiltin = {{
    {"claude-opus-4", false, kOpus4},
    {"claude-opus-4@", true, kOpus4},
    {"claude-opus-4-0", true, kOpus4},
    {"claude-opus-4-1", true, kOpus4},
    {"claude-opus-4-20", true, kOpus4},  // claude-opus-4-20250514
    {"claude-opus-", true, kOpus45},     // claude-opus-4-5 and later
    {"claude-3-opus", true, kOpus4},
    {"claude-sonnet-", true, kSonnet},
    {"claude-3-7-sonnet", true, kSonnet},
    {"claude-3-5-sonnet", true, kSonnet},
    {"claude-3-sonnet", true, kSonnet},
    {"claude-3-5-haiku", true, kHaiku35},
    {"claude-3-haiku", true, kHaiku3},
    {"claude-haiku-", true, kHaiku45},  // claude-haiku-4-5 and later
}};

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
  const std::string_view name = model.substr(at);
  for (const BuiltinRule& rule : kBuiltin) {
    if (rule.prefix ? name.starts_with(rule.model) : name == rule.model) {
      return &rule.price;
    }
  }
  return nullptr;
}

bool UsesBuiltinClaudePrices(std::string_view provider_type) {
  return provider_type == "anthropic" || provider_type == "bedrock" || provider_type == "vertex" ||
         provider_type == "azure";
}

const ModelPrice* PriceTable::Find(std::string_view model) const {
  for (const PriceRule& rule : rules_) {
    if (rule.prefix ? model.starts_with(rule.model) : model == rule.model) {
      return &rule.price;
    }
  }
  return builtin_claude_ ? BuiltinClaudePrice(model) : nullptr;
}

double PriceTable::Cost(std::string_view model, const http::Usage& usage) const {
  const ModelPrice* price = Find(model);
  return price == nullptr ? 0.0 : CostUsd(*price, usage);
}

}  // namespace ccrelay::routing
