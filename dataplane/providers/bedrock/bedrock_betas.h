#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

namespace ccrelay::providers::bedrock {

// The anthropic-beta values Bedrock InvokeModel accepts, rejects or knows under another name.
//
// Bedrock answers 400 "invalid beta flag" for a beta it does not know, for the whole request, so
// the relay filters the client's betas before they go into the body's "anthropic_beta" list.
// Source: LiteLLM's per-provider table (BerriAI/litellm:
// litellm/anthropic_beta_headers_config.json, section "bedrock"), plus the betas Claude Code 2.1
// sends (docs/claude-code-wire.md).
//
// Policy for a beta in neither list: DROP. An unknown beta is far more likely to be an
// Anthropic-only one (Claude Code adds new ones every few releases) than one Bedrock accepts,
// and forwarding it turns every request into a 400; dropping it at worst disables an optional
// feature. The caller logs dropped betas at debug level, so a missing entry is easy to spot and
// add here.
//
// Notable decisions (see the table in bedrock_betas.cc for every entry):
// - interleaved-thinking-2025-05-14 is dropped, as LiteLLM does: Bedrock's Opus 4.7 and later
//   reject it with "invalid beta flag" (anthropics/claude-code#49490) and adaptive thinking
//   interleaves without it. Claude 4.0-4.6 with `thinking: {type: enabled}` then do not
//   interleave thinking between tool calls (a quality loss, not an error).
// - claude-code-20250219 and oauth-2025-04-20 are first-party-only and dropped.
// - advanced-tool-use-2025-11-20 is renamed to tool-search-tool-2025-10-19 (Bedrock's name).
// The table is the same for every model; Bedrock's acceptance of a few betas differs per model
// (e.g. tool search on Opus 4.7), which this table cannot express.

enum class BetaSupport {
  kPass,     // Bedrock accepts it under the same name
  kRename,   // Bedrock accepts it under another name (BetaLookup::bedrock_name)
  kDrop,     // listed as unsupported on Bedrock
  kUnknown,  // in no list: dropped (policy above)
};

struct BetaLookup {
  BetaSupport support = BetaSupport::kUnknown;
  // The name to send to Bedrock (kPass, kRename); empty otherwise. Points into a static table.
  std::string_view bedrock_name;
};

// Looks one beta name up. Matching is exact except for ASCII case (the table is lower case);
// the caller trims whitespace.
BetaLookup LookupBeta(std::string_view beta);

// A small fixed-capacity list of beta names: no allocation. The views point into the static
// table or into the strings passed to FilterBetas, which must outlive the list.
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

struct FilteredBetas {
  // What goes to Bedrock: Bedrock names (renamed where needed), in first-seen order, without
  // duplicates. Views into the static table.
  BetaList kept;
  // What was dropped (unsupported or unknown), trimmed, as the client spelled them, without
  // duplicates: for a debug log line. Views into the header values.
  BetaList dropped;
};

// Filters the values of the client's anthropic-beta header(s) (one string per header line: a
// client may send the header more than once). Each value is a comma-separated list; items are
// trimmed of spaces and tabs, empty items are ignored. `out` is cleared first. Betas past a
// list's capacity are ignored (a client sends about ten).
void FilterBetas(std::span<const std::string_view> header_values, FilteredBetas* out);

}  // namespace ccrelay::providers::bedrock
