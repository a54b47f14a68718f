#include "dataplane/providers/betas.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "dataplane/common/str.h"

namespace ccrelay::providers {

struct BetaEntry {
  std::string_view name;
  BetaSupport support;
  std::string_view to;  // kPass: same as name; kRename: the new name; kDrop: empty
};

struct BetaTable {
  std::string_view type;
  std::span<const BetaEntry> entries;
  bool drop_unknown;
};

namespace {

constexpr BetaEntry Pass(std::string_view name) { return {name, BetaSupport::kPass, name}; }
constexpr BetaEntry Rename(std::string_view name, std::string_view to) {
  return {name, BetaSupport::kRename, to};
}
constexpr BetaEntry Drop(std::string_view name) { return {name, BetaSupport::kDrop, {}}; }

// Lookups are linear (about 50 short entries, a handful of lookups per request). Keep each block
// sorted by name for review.
// clang-format off

// LiteLLM's "bedrock" section (non-null = pass or rename, null = drop), then the Anthropic-only
// betas Claude Code sends that LiteLLM does not list.
constexpr auto kBedrock = std::to_array<BetaEntry>({
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
    Rename("advanced-tool-use-2025-11-20", "tool-search-tool-2025-10-19"),
    Drop("advisor-tool-2026-03-01"),
    Drop("bash_20241022"),
    Drop("bash_20250124"),
    Drop("code-execution-2025-08-25"),
    Drop("fast-mode-2026-02-01"),
    Drop("files-api-2025-04-14"),
    Drop("interleaved-thinking-2025-05-14"),  // rejected by Opus 4.7+ (see betas.h)
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
    // Anthropic first-party only, sent by Claude Code (docs/claude-code-wire.md) or the SDK.
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

// LiteLLM's "vertex_ai" section, then the Anthropic-only betas Claude Code sends.
constexpr auto kVertex = std::to_array<BetaEntry>({
    Pass("compact-2026-01-12"),
    Pass("compact-2026-09-04"),
    Pass("computer-use-2025-01-24"),
    Pass("computer-use-2025-11-24"),
    Pass("context-1m-2025-08-07"),
    Pass("context-management-2025-06-27"),
    Pass("dangerous-tool-use-2026-09-03"),
    Pass("interleaved-thinking-2025-05-14"),
    Pass("per-turn-control-2026-07-01"),
    Pass("thinking-binding-controls-2026-08-01"),
    Pass("thinking-display-updates-2026-08-18"),
    Pass("tool-search-tool-2025-10-19"),
    Pass("web-search-2025-03-05"),
    Rename("advanced-tool-use-2025-11-20", "tool-search-tool-2025-10-19"),
    Drop("advisor-tool-2026-03-01"),
    Drop("bash_20241022"),
    Drop("bash_20250124"),
    Drop("code-execution-2025-08-25"),
    Drop("effort-2025-11-24"),
    Drop("fast-mode-2026-02-01"),
    Drop("files-api-2025-04-14"),
    Drop("fine-grained-tool-streaming-2025-05-14"),
    Drop("mcp-client-2025-04-04"),
    Drop("mcp-client-2025-11-20"),
    Drop("mcp-servers-2025-12-04"),
    Drop("output-128k-2025-02-19"),
    Drop("prompt-caching-scope-2026-01-05"),
    Drop("skills-2025-10-02"),
    Drop("structured-output-2024-03-01"),
    Drop("structured-outputs-2025-11-13"),
    Drop("text_editor_20241022"),
    Drop("text_editor_20250124"),
    Drop("token-efficient-tools-2025-02-19"),
    Drop("web-fetch-2025-09-10"),
    // Anthropic first-party only, or not in LiteLLM's Vertex list (dropped as unknown anyway;
    // listed so that dropping them is a decision, not a default).
    Drop("claude-code-20250219"),
    Drop("extended-cache-ttl-2025-04-11"),
    Drop("mid-conversation-output-config-2026-07-01"),
    Drop("mid-conversation-system-2026-04-07"),
    Drop("mid-conversation-tool-changes-2026-07-01"),
    Drop("oauth-2025-04-20"),
    Drop("redact-thinking-2026-02-12"),
    Drop("structured-outputs-2025-12-15"),
    Drop("thinking-token-count-2026-05-13"),
    Drop("token-counting-2024-11-01"),
});

// LiteLLM's "azure_ai" section: its null entries are dropped; unknown betas pass (Foundry is
// Anthropic's API), so the accepted ones are listed only for the record.
constexpr auto kAzure = std::to_array<BetaEntry>({
    Pass("advanced-tool-use-2025-11-20"),
    Pass("code-execution-2025-08-25"),
    Pass("computer-use-2025-01-24"),
    Pass("computer-use-2025-11-24"),
    Pass("context-1m-2025-08-07"),
    Pass("context-management-2025-06-27"),
    Pass("dangerous-tool-use-2026-09-03"),
    Pass("effort-2025-11-24"),
    Pass("files-api-2025-04-14"),
    Pass("interleaved-thinking-2025-05-14"),
    Pass("mcp-client-2025-04-04"),
    Pass("mcp-client-2025-11-20"),
    Pass("per-turn-control-2026-07-01"),
    Pass("prompt-caching-scope-2026-01-05"),
    Pass("skills-2025-10-02"),
    Pass("structured-outputs-2025-11-13"),
    Pass("thinking-display-updates-2026-08-18"),
    Pass("web-fetch-2025-09-10"),
    Pass("web-search-2025-03-05"),
    Drop("advisor-tool-2026-03-01"),
    Drop("bash_20241022"),
    Drop("bash_20250124"),
    Drop("compact-2026-01-12"),
    Drop("fast-mode-2026-02-01"),
    Drop("fine-grained-tool-streaming-2025-05-14"),
    Drop("mcp-servers-2025-12-04"),
    Drop("output-128k-2025-02-19"),
    Drop("structured-output-2024-03-01"),
    Drop("text_editor_20241022"),
    Drop("text_editor_20250124"),
    Drop("thinking-binding-controls-2026-08-01"),
    Drop("token-efficient-tools-2025-02-19"),
});
// clang-format on

constexpr std::array<BetaTable, 3> kTables = {{
    {"bedrock", kBedrock, true},
    {"vertex", kVertex, true},
    {"azure", kAzure, false},
}};

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

// The entry of `list` equal to `beta` ignoring ASCII case, or nullptr.
const std::string* FindIn(const std::vector<std::string>& list, std::string_view beta) {
  for (const std::string& s : list) {
    if (common::EqualsIgnoreCase(s, beta)) {
      return &s;
    }
  }
  return nullptr;
}

}  // namespace

const BetaTable* BuiltinBetaTable(std::string_view type) {
  for (const BetaTable& t : kTables) {
    if (t.type == type) {
      return &t;
    }
  }
  return nullptr;
}

BetaLookup LookupInTable(const BetaTable& table, std::string_view beta) {
  for (const BetaEntry& entry : table.entries) {
    if (common::EqualsIgnoreCase(entry.name, beta)) {
      return {entry.support, entry.to};
    }
  }
  return {BetaSupport::kUnknown, {}};
}

bool DropsUnknownBetas(const BetaTable& table) { return table.drop_unknown; }

std::string_view KnownBetaName(std::string_view beta) {
  for (const BetaTable& t : kTables) {
    for (const BetaEntry& entry : t.entries) {
      if (common::EqualsIgnoreCase(entry.name, beta)) {
        return entry.name;
      }
    }
  }
  return {};
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

bool DroppedBetas::Add(std::string_view name, std::string_view label) {
  for (size_t i = 0; i < size_; ++i) {
    if (items_[i].name == name) {
      return true;
    }
  }
  if (size_ == kCapacity) {
    return false;
  }
  items_[size_++] = {name, label};
  return true;
}

std::string DroppedBetas::Joined() const {
  std::string out;
  for (size_t i = 0; i < size_; ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    out.append(items_[i].name);
  }
  return out;
}

BetaFilter::BetaFilter(const BetaTable* table, BetaPolicy policy)
    : table_(table), policy_(std::move(policy)) {}

const BetaFilter* BetaFilter::Default(std::string_view type) {
  static const BetaFilter kBedrockFilter(BuiltinBetaTable("bedrock"), {});
  static const BetaFilter kVertexFilter(BuiltinBetaTable("vertex"), {});
  static const BetaFilter kAzureFilter(BuiltinBetaTable("azure"), {});
  if (type == "bedrock") {
    return &kBedrockFilter;
  }
  if (type == "vertex") {
    return &kVertexFilter;
  }
  if (type == "azure") {
    return &kAzureFilter;
  }
  return nullptr;
}

std::shared_ptr<const BetaFilter> BetaFilter::ForProvider(std::string_view type,
                                                          BetaPolicy policy) {
  if (policy.empty()) {
    const BetaFilter* d = Default(type);
    // Not owned: the aliasing constructor with an empty owner.
    return d == nullptr ? nullptr : std::shared_ptr<const BetaFilter>(std::shared_ptr<void>(), d);
  }
  return std::make_shared<const BetaFilter>(BuiltinBetaTable(type), std::move(policy));
}

BetaLookup BetaFilter::Lookup(std::string_view beta) const {
  if (FindIn(policy_.deny, beta) != nullptr) {
    return {BetaSupport::kDrop, {}};
  }
  for (const auto& [from, to] : policy_.rename) {
    if (common::EqualsIgnoreCase(from, beta)) {
      return {BetaSupport::kRename, to};
    }
  }
  if (const std::string* allowed = FindIn(policy_.allow, beta); allowed != nullptr) {
    return {BetaSupport::kPass, *allowed};
  }
  if (table_ == nullptr) {
    return {BetaSupport::kPass, beta};
  }
  const BetaLookup found = LookupInTable(*table_, beta);
  if (found.support == BetaSupport::kUnknown && !table_->drop_unknown) {
    return {BetaSupport::kPass, beta};
  }
  return found;
}

std::string_view BetaFilter::Label(std::string_view beta) const {
  if (const std::string* s = FindIn(policy_.deny, beta); s != nullptr) {
    return *s;
  }
  if (const std::string* s = FindIn(policy_.allow, beta); s != nullptr) {
    return *s;
  }
  for (const auto& rule : policy_.rename) {
    if (common::EqualsIgnoreCase(rule.first, beta)) {
      return rule.first;
    }
  }
  const std::string_view known = KnownBetaName(beta);
  return known.empty() ? std::string_view("other") : known;
}

void BetaFilter::Filter(std::span<const std::string_view> header_values,
                        FilteredBetas* out) const {
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
      const BetaLookup lookup = Lookup(item);
      if (lookup.kept()) {
        out->kept.Add(lookup.name);
      } else {
        out->dropped.Add(item, Label(item));
      }
    }
  }
}

size_t CollectBetaHeaders(const http::RequestFields& headers, std::span<std::string_view> out) {
  size_t n = 0;
  for (auto it = headers.find("anthropic-beta");
       it != headers.end() && n < out.size() &&
       common::EqualsIgnoreCase(it->name_string(), "anthropic-beta");
       ++it) {
    out[n++] = std::string_view(it->value().data(), it->value().size());
  }
  return n;
}

void FilterBetaHeaders(const BetaFilter& filter, const http::RequestFields& headers,
                       FilteredBetas* out) {
  std::array<std::string_view, 8> values;
  const size_t n = CollectBetaHeaders(headers, values);
  filter.Filter(std::span<const std::string_view>(values.data(), n), out);
}

void AppendBetaHeader(const BetaList& betas, std::string* head) {
  if (betas.empty()) {
    return;
  }
  head->append("anthropic-beta: ");
  bool first = true;
  for (std::string_view b : betas.values()) {
    if (!first) {
      head->push_back(',');
    }
    first = false;
    head->append(b);
  }
  head->append("\r\n");
}

}  // namespace ccrelay::providers
