#include "dataplane/providers/bedrock/bedrock_betas.h"

#include <algorithm>
#include <array>
#include <string_view>

namespace ccrelay::providers::bedrock {

namespace {

struct BetaEntry {
  std::string_view name;
  BetaSupport support;
  std::string_view bedrock_name;  // kPass: same as name; kRename: the new name; kDrop: empty
};

constexpr BetaEntry Pass(std::string_view name) { return {name, BetaSupport::kPass, name}; }
constexpr BetaEntry Rename(std::string_view name, std::string_view to) {
  return {name, BetaSupport::kRename, to};
}
constexpr BetaEntry Drop(std::string_view name) { return {name, BetaSupport::kDrop, {}}; }

// LiteLLM's "bedrock" section (non-null = pass or rename, null = drop), then the Anthropic-only
// betas Claude Code sends that LiteLLM does not list. Keep it sorted by name within each block
// for review; lookups are linear (about 50 short entries, a handful of lookups per request).
// clang-format off
constexpr auto kTable = std::to_array<BetaEntry>({
    // Accepted by Bedrock (LiteLLM "bedrock": non-null).
    Pass("compact-2026-01-12"),
    Pass("computer-use-2025-01-24"),
    Pass("computer-use-2025-11-24"),
    Pass("context-1m-2025-08-07"),
    Pass("context-management-2025-06-27"),
    Pass("dangerous-tool-use-2026-09-03"),
    Pass("effort-2025-11-24"),
    Pass("fine-grained-tool-streaming-2025-05-14"),
    Pass("mid-conversation-output-config-2026-07-01"),
    Pass("mid-conversation-tool-changes-2026-07-01"),
    Pass("thinking-binding-controls-2026-08-01"),
    Pass("thinking-display-updates-2026-08-18"),
    Pass("tool-search-tool-2025-10-19"),
    // Renamed (LiteLLM "bedrock": advanced-tool-use -> tool-search-tool).
    Rename("advanced-tool-use-2025-11-20", "tool-search-tool-2025-10-19"),
    // Rejected by Bedrock (LiteLLM "bedrock": null).
    Drop("advisor-tool-2026-03-01"),
    Drop("bash_20241022"),
    Drop("bash_20250124"),
    Drop("code-execution-2025-08-25"),
    Drop("fast-mode-2026-02-01"),
    Drop("files-api-2025-04-14"),
    Drop("interleaved-thinking-2025-05-14"),  // rejected by Opus 4.7+ (see the header)
    Drop("mcp-client-2025-04-04"),
    Drop("mcp-client-2025-11-20"),
    Drop("mcp-servers-2025-12-04"),
    Drop("output-128k-2025-02-19"),
    Drop("per-turn-control-2026-07-01"),
    Drop("prompt-caching-scope-2026-01-05"),  // cache_control.scope is removed from the body too
    Drop("skills-2025-10-02"),
    Drop("structured-output-2024-03-01"),
    Drop("structured-outputs-2025-11-13"),
    Drop("text_editor_20241022"),
    Drop("text_editor_20250124"),
    Drop("token-efficient-tools-2025-02-19"),
    Drop("web-fetch-2025-09-10"),
    Drop("web-search-2025-03-05"),
    // Anthropic first-party only, sent by Claude Code (docs/claude-code-wire.md) or the SDK; not
    // in LiteLLM's Bedrock list, listed here so that dropping them is a decision, not a default.
    Drop("claude-code-20250219"),
    Drop("compact-2026-09-04"),               // LiteLLM lists it for anthropic and vertex only
    Drop("extended-cache-ttl-2025-04-11"),    // rejected (anthropics/claude-code#56595); the 1h
                                              //   ttl needs no beta any more
    Drop("mid-conversation-system-2026-04-07"),
    Drop("oauth-2025-04-20"),
    Drop("redact-thinking-2026-02-12"),
    Drop("structured-outputs-2025-12-15"),
    Drop("thinking-token-count-2026-05-13"),
    Drop("token-counting-2024-11-01"),        // Bedrock counts with its own CountTokens API
});
// clang-format on

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) {
      return false;
    }
  }
  return true;
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && IsBlank(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

BetaLookup LookupBeta(std::string_view beta) {
  for (const BetaEntry& entry : kTable) {
    if (EqualsIgnoreAsciiCase(entry.name, beta)) {
      return {entry.support, entry.bedrock_name};
    }
  }
  return {BetaSupport::kUnknown, {}};
}

bool BetaList::Add(std::string_view beta) {
  if (Contains(beta)) {
    return true;
  }
  if (size_ == kCapacity) {
    return false;
  }
  items_[size_++] = beta;
  return true;
}

bool BetaList::Contains(std::string_view beta) const {
  return std::find(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(size_), beta) !=
         items_.begin() + static_cast<std::ptrdiff_t>(size_);
}

void FilterBetas(std::span<const std::string_view> header_values, FilteredBetas* out) {
  out->kept.Clear();
  out->dropped.Clear();
  for (std::string_view value : header_values) {
    while (!value.empty()) {
      const size_t comma = value.find(',');
      const std::string_view item = Trim(value.substr(0, comma));
      value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
      if (item.empty()) {
        continue;
      }
      const BetaLookup lookup = LookupBeta(item);
      if (lookup.support == BetaSupport::kPass || lookup.support == BetaSupport::kRename) {
        out->kept.Add(lookup.bedrock_name);
      } else {
        out->dropped.Add(item);
      }
    }
  }
}

}  // namespace ccrelay::providers::bedrock
