#pragma once

#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "dataplane/providers/betas.h"

namespace ccrelay::providers::bedrock {

// The "anthropic_version" Bedrock requires in the body.
inline constexpr std::string_view kBedrockAnthropicVersion = "bedrock-2023-05-31";

struct InvokeBodyOptions {
  // The betas table (with the provider's policy) the body's own "anthropic_beta" goes through;
  // nullptr = the built-in Bedrock table. Its names must outlive the call.
  const BetaFilter* filter = nullptr;
  // The client's betas, already filtered through that table (FilteredBetas' `kept`).
  // They become the body's "anthropic_beta" when the body has none. Written as JSON strings
  // (quotes, backslashes and control characters escaped; bytes otherwise copied).
  std::span<const std::string_view> betas;
  // Keep cache_control.ttl "5m" / "1h" (Claude 4.5 and later on Bedrock); false drops every ttl.
  bool allow_cache_ttl = true;
};

// Writes into `out` (cleared first; its capacity is kept, so a reused string does not allocate
// once warm) the InvokeModel body for an Anthropic Messages request body. The body is walked
// once, without a DOM: kept bytes are copied verbatim (string escapes untouched, whitespace
// kept), so the output is the input minus the removed members plus the added ones.
//
// Top level:
// - keeps only the members Bedrock accepts: anthropic_version, max_tokens, messages,
//   anthropic_beta, system, stop_sequences, temperature, top_p, top_k, tools, tool_choice,
//   thinking, metadata, output_config, context_management. Everything else goes, "model" and
//   "stream" (URL), "service_tier", "container", "inference_geo", "output_format",
//   "mcp_servers", top-level "cache_control", ... included;
// - adds "anthropic_version":"bedrock-2023-05-31" when absent;
// - "anthropic_beta" in the body (not something Claude Code sends) is authoritative, as in the
//   Anthropic SDKs: it is filtered through the same beta table (options.filter: renamed, unknown
//   and unsupported names dropped, duplicates removed, non-strings dropped) and options.betas are
//   not added. If nothing survives, the member is removed. A non-array "anthropic_beta" is
//   removed and counts as absent;
// - otherwise adds "anthropic_beta":[options.betas...] when options.betas is not empty.
// Added members go at the end of the object.
// cache_control, in "system"[i], "messages"[i].content[j], the blocks of a tool_result's
//   "content" array (messages[i].content[j].content[k]) and "tools"[i]: drops "scope"; drops
//   "ttl" unless it is "5m" or "1h" and options.allow_cache_ttl.
// "tools"[i]: drops "custom" (Claude Code's {"defer_loading": true} wrapper; a tool-level
//   "defer_loading" is part of Bedrock's tool search and is kept).
// "context_management": keeps only the edits Bedrock accepts (types clear_tool_uses_20250919 and
//   compact_20260112; Claude Code's clear_thinking_20251015 is rejected by Bedrock, as is any
//   type we do not know); removes "context_management" when no edit is left, when it is not an
//   object or when it has no "edits" array.
// Keys and the compared string values are matched after JSON unescaping ("mod\u0065l" is
// "model"). Duplicate keys are each treated on their own.
//
// Precondition: `body` passed ScanRequestBody (UTF-8 is not checked again here). The JSON
// grammar is checked while walking: a malformed body gives InvalidArgumentError (and an empty
// `out`), so an OK result is always valid JSON. Nesting deeper than 1024 levels is an error.
absl::Status WriteInvokeBody(std::string_view body, const InvokeBodyOptions& options,
                             std::string* out);

// Writes the Bedrock CountTokens body for an Anthropic count_tokens request body:
// {"input":{"invokeModel":{"body":"<base64 of the InvokeModel body>"}}}, where the InvokeModel
// body is WriteInvokeBody's, plus "max_tokens":1 when the body has no "max_tokens": Anthropic's
// count_tokens takes no max_tokens but InvokeModel requires one, and its value does not change
// the input token count. Standard base64 with padding, encoded in place (no other buffer).
absl::Status WriteCountTokensBody(std::string_view body, const InvokeBodyOptions& options,
                                  std::string* out);

}  // namespace ccrelay::providers::bedrock
