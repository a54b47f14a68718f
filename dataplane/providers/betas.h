#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/fields.hpp>

#include "dataplane/http/request_fields.h"

namespace ccrelay::providers {

// The anthropic-beta values a provider type accepts, renames or drops (SPEC.md "Beta tables").
//
// Claude Code sends betas that Bedrock, Vertex and some Foundry deployments refuse with a 400
// for the whole request, so the relay filters the client's betas per provider type. Built-in
// tables (betas.cc) follow LiteLLM's per-provider table (BerriAI/litellm:
// litellm/anthropic_beta_headers_config.json, read at commit 030dd40a93c3), plus the betas
// Claude Code 2.1 sends (docs/claude-code-wire.md):
// - bedrock: LiteLLM's "bedrock" section; a beta in no list is DROPPED (an unknown beta is far
//   more likely an Anthropic-only one than one Bedrock accepts, and forwarding it turns every
//   request into a 400; dropping it at worst disables an optional feature).
//   interleaved-thinking-2025-05-14 is dropped as LiteLLM does (Bedrock's Opus 4.7+ reject it,
//   anthropics/claude-code#49490); advanced-tool-use-2025-11-20 becomes
//   tool-search-tool-2025-10-19.
// - vertex: LiteLLM's "vertex_ai" section, unknown betas dropped as on Bedrock.
// - azure: Foundry is Anthropic's own API; unknown betas PASS, only those LiteLLM's "azure_ai"
//   section lists as unsupported are dropped. Deployments "hosted on Azure" refuse more (web
//   search/fetch, code execution, tool search, MCP, Skills, Files): `betas.deny` per provider.
// - anthropic, zai, ollama: no table, everything passes, nothing is filtered.
// claude-code-20250219 and oauth-2025-04-20 (first party only) are dropped on bedrock and vertex.
// A provider's config (`betas: {allow, deny, rename}`, BetaPolicy) applies over the table.
// Matching ignores ASCII case; the table's spelling is what goes upstream.

enum class BetaSupport {
  kPass,     // accepted under the same name
  kRename,   // accepted under another name (BetaLookup::name)
  kDrop,     // listed as refused (or denied by the provider's policy)
  kUnknown,  // in no list, and the table drops unknown betas
};

struct BetaLookup {
  BetaSupport support = BetaSupport::kUnknown;
  // The name to send (kPass, kRename); empty otherwise. Points into a static table, the policy
  // or the looked-up string.
  std::string_view name;

  bool kept() const { return support == BetaSupport::kPass || support == BetaSupport::kRename; }
};

// A provider type's built-in table (opaque; defined in betas.cc).
struct BetaTable;

// The built-in table of `type` ("bedrock", "vertex", "azure"); nullptr for a type that passes
// every beta (anthropic, zai, ollama, unknown types).
const BetaTable* BuiltinBetaTable(std::string_view type);

// Looks one (trimmed) beta up in `table`; kUnknown with an empty name when it is in no list.
BetaLookup LookupInTable(const BetaTable& table, std::string_view beta);

// Whether `table` drops betas it does not list (bedrock, vertex) or passes them (azure).
bool DropsUnknownBetas(const BetaTable& table);

// The spelling of `beta` in any built-in table (static storage); "" when no table lists it.
std::string_view KnownBetaName(std::string_view beta);

// A small fixed-capacity list of beta names: no allocation. The views point into static tables,
// a BetaFilter's policy or the strings filtered, which must outlive the list.
class BetaList {
 public:
  static constexpr size_t kCapacity = 32;

  // Appends `beta` unless the list already holds it (exact comparison). Returns false, without
  // adding it, when the list is full.
  bool Add(std::string_view beta);
  bool Contains(std::string_view beta) const;
  void Clear() { size_ = 0; }

  std::span<const std::string_view> values() const { return {items_.data(), size_}; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  std::array<std::string_view, kCapacity> items_{};
  size_t size_ = 0;
};

// The betas a filter dropped: each as the client spelled it (for the debug log line) with its
// metric label (a built-in table's or the policy's spelling, else "other": bounded cardinality).
class DroppedBetas {
 public:
  struct Item {
    std::string_view name;
    std::string_view label;
  };
  static constexpr size_t kCapacity = BetaList::kCapacity;

  // Appends unless `name` is already there; false when full.
  bool Add(std::string_view name, std::string_view label);
  void Clear() { size_ = 0; }
  std::span<const Item> items() const { return {items_.data(), size_}; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // "a,b,c" (the names), for a log line.
  std::string Joined() const;

 private:
  std::array<Item, kCapacity> items_{};
  size_t size_ = 0;
};

struct FilteredBetas {
  // What goes upstream: names to send (renamed where needed), in first-seen order, no duplicates.
  BetaList kept;
  // What was dropped, trimmed, as the client spelled them, without duplicates.
  DroppedBetas dropped;
};

// providers[].betas from the config (proto BetaPolicy): names compared ignoring ASCII case.
struct BetaPolicy {
  std::vector<std::string> allow;  // sent even if the table drops them (or does not list them)
  std::vector<std::string> deny;   // never sent, whatever the table says
  std::vector<std::pair<std::string, std::string>> rename;  // sent under another name

  bool empty() const { return allow.empty() && deny.empty() && rename.empty(); }
};

// A type's table with a provider's policy over it: what an adapter filters the client's betas
// through. Immutable; one per provider in the routing table (hot reloads build new ones).
// Precedence for one beta: deny, then rename, then allow, then the table, then the table's
// policy for unknown betas (no table: pass).
class BetaFilter {
 public:
  BetaFilter(const BetaTable* table, BetaPolicy policy);

  // The filter of `type` without a policy (static storage); nullptr for a type without a table.
  static const BetaFilter* Default(std::string_view type);
  // The filter a provider of `type` with `policy` uses: Default(type) when the policy is empty
  // (nullptr for a type without a table: nothing to filter), else a new one.
  static std::shared_ptr<const BetaFilter> ForProvider(std::string_view type, BetaPolicy policy);

  // Looks one trimmed beta up: kept (kPass/kRename with the name to send) or not.
  BetaLookup Lookup(std::string_view beta) const;
  // The metric label of a dropped beta: its policy or built-in spelling, else "other".
  std::string_view Label(std::string_view beta) const;

  // Filters the values of the client's anthropic-beta header(s) (one string per header line).
  // Each value is a comma-separated list; items are trimmed of spaces and tabs, empty items are
  // ignored. `out` is cleared first. Betas past a list's capacity are ignored.
  void Filter(std::span<const std::string_view> header_values, FilteredBetas* out) const;

 private:
  const BetaTable* table_;
  BetaPolicy policy_;
};

// The values of every anthropic-beta header line in `headers`, at most `out.size()` of them;
// returns how many.
size_t CollectBetaHeaders(const http::RequestFields& headers, std::span<std::string_view> out);

// Filters the client's anthropic-beta headers through `filter` into `out`.
void FilterBetaHeaders(const BetaFilter& filter, const http::RequestFields& headers,
                       FilteredBetas* out);

// Appends "anthropic-beta: a,b\r\n" for `betas` (nothing when empty).
void AppendBetaHeader(const BetaList& betas, std::string* head);

}  // namespace ccrelay::providers
