#include "dataplane/routing/pricing.h"

#include <array>
#include <string_view>
#include <vector>

#include "dataplane/common/str.h"

namespace ccrelay::routing {

namespace {

constexpr ModelPrice kOpus4 = {15, 75, 1.5, 18.75};
constexpr ModelPrice kOpus45 = {5, 25, 0.5, 6.25};
constexpr ModelPrice kSonnet = {3, 15, 0.3, 3.75};
constexpr ModelPrice kHaiku45 = {1, 5, 0.1, 1.25};
constexpr ModelPrice kHaiku35 = {0.8, 4, 0.08, 1};
constexpr ModelPrice kHaiku3 = {0.25, 1.25, 0.03, 0.3};
// Claude 5 (platform.claude.com model overviews, 2026).
constexpr ModelPrice kOpus55 = {4, 20, 0.4, 5};
constexpr ModelPrice kSonnet5 = {2, 10, 0.2, 2.5};
constexpr ModelPrice kFable51 = {10, 50, 1, 12.5};
constexpr ModelPrice kFable52 = {8, 40, 0.8, 10};

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
      {ModelPattern("claude-opus-5-5*"), kOpus55},
      {ModelPattern("claude-opus-*"), kOpus45},     // claude-opus-4-5 to 5
      {ModelPattern("claude-3-opus*"), kOpus4},
      {ModelPattern("claude-sonnet-5*"), kSonnet5},  // claude-sonnet-5, 5-5
      {ModelPattern("claude-sonnet-*"), kSonnet},
      {ModelPattern("claude-3-7-sonnet*"), kSonnet},
      {ModelPattern("claude-3-5-sonnet*"), kSonnet},
      {ModelPattern("claude-3-sonnet*"), kSonnet},
      {ModelPattern("claude-3-5-haiku*"), kHaiku35},
      {ModelPattern("claude-3-haiku*"), kHaiku3},
      {ModelPattern("claude-haiku-*"), kHaiku45},  // claude-haiku-4-5 and later
      {ModelPattern("claude-fable-5-1*"), kFable51},
      {ModelPattern("claude-fable-*"), kFable52},  // claude-fable-5-2 and later
  };
  return *rules;
}

// Z.AI pay-as-you-go list prices, USD per million tokens: input / output / cached input (cache
// storage is free: no write price). Source: Z.AI's pricing page,
// https://docs.z.ai/guides/overview/pricing (as of 2026-09; launch promotions not applied). The
// Flash models of 4.5 and 4.7 are free. Name prefixes, ASCII case ignored; the first match wins,
// so longer names come first.
struct GlmPrice {
  std::string_view prefix;
  ModelPrice price;
};
constexpr std::array<GlmPrice, 18> kGlmPrices = {{
    {"glm-5.3-flash", {0.15, 0.50, 0.03, 0}},
    {"glm-5.3", {1.40, 4.40, 0.26, 0}},
    {"glm-5.2", {1.40, 4.40, 0.26, 0}},
    {"glm-5.1", {1.40, 4.40, 0.26, 0}},
    {"glm-5v-turbo", {1.20, 4.00, 0.24, 0}},
    {"glm-5-turbo", {1.20, 4.00, 0.24, 0}},
    {"glm-5", {1.00, 3.20, 0.20, 0}},
    {"glm-4.7-flashx", {0.07, 0.40, 0.01, 0}},
    {"glm-4.7-flash", {0, 0, 0, 0}},
    {"glm-4.7", {0.60, 2.20, 0.11, 0}},
    {"glm-4.6v", {0.30, 0.90, 0.05, 0}},
    {"glm-4.6", {0.60, 2.20, 0.11, 0}},
    {"glm-4.5v", {0.60, 1.80, 0.11, 0}},
    {"glm-4.5-airx", {1.10, 4.50, 0.22, 0}},
    {"glm-4.5-air", {0.20, 1.10, 0.03, 0}},
    {"glm-4.5-x", {2.20, 8.90, 0.45, 0}},
    {"glm-4.5-flash", {0, 0, 0, 0}},
    {"glm-4.5", {0.60, 2.20, 0.11, 0}},
}};

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

const ModelPrice* BuiltinGlmPrice(std::string_view model) {
  for (const GlmPrice& g : kGlmPrices) {
    if (common::StartsWithIgnoreCase(model, g.prefix)) {
      return &g.price;
    }
  }
  return nullptr;
}

bool UsesBuiltinGlmPrices(std::string_view provider_type) { return provider_type == "zai"; }

const ModelPrice* PriceTable::Find(std::string_view model) const {
  if (const ModelPrice* price = FirstMatch(rules_, model); price != nullptr) {
    return price;
  }
  if (builtin_claude_) {
    return BuiltinClaudePrice(model);
  }
  return builtin_glm_ ? BuiltinGlmPrice(model) : nullptr;
}

double PriceTable::Cost(std::string_view model, const http::Usage& usage) const {
  const ModelPrice* price = Find(model);
  return price == nullptr ? 0.0 : CostUsd(*price, usage);
}

}  // namespace ccrelay::routing
