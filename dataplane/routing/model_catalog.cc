#include "dataplane/routing/model_catalog.h"

#include <array>
#include <cctype>

#include "dataplane/common/str.h"
#include "dataplane/http/request_scan.h"

namespace ccrelay::routing {

// The tool bits are http::ServerTool's.
constexpr bool SameBit(Capability c, http::ServerTool t) {
  return static_cast<uint32_t>(c) == static_cast<uint32_t>(t);
}
static_assert(SameBit(kCapWebSearch, http::kWebSearch) && SameBit(kCapWebFetch, http::kWebFetch) &&
              SameBit(kCapCodeExecution, http::kCodeExecution) &&
              SameBit(kCapComputer, http::kComputer) && SameBit(kCapBash, http::kBash) &&
              SameBit(kCapTextEditor, http::kTextEditor) && SameBit(kCapMemory, http::kMemory) &&
              SameBit(kCapOtherServerTools, http::kOtherServerTool));

namespace {

constexpr int64_t k200k = 200000;
constexpr int64_t k128k = 128000;
constexpr int64_t k64k = 64000;
constexpr int64_t k1m = 1000000;

struct CapabilityName {
  uint32_t bit;
  std::string_view name;
};
constexpr std::array<CapabilityName, 10> kCapabilityNames = {{
    {kCapWebSearch, "web_search"},
    {kCapWebFetch, "web_fetch"},
    {kCapCodeExecution, "code_execution"},
    {kCapComputer, "computer"},
    {kCapBash, "bash"},
    {kCapTextEditor, "text_editor"},
    {kCapMemory, "memory"},
    {kCapThinking, "thinking"},
    {kCapImages, "images"},
    {kCapOtherServerTools, "other_server_tools"},
}};

// Anthropic-defined tools that run on the client (computer use, bash, text editor, memory):
// every Claude platform accepts them (Bedrock and Vertex pass the computer-use betas).
constexpr uint32_t kClientDefinedTools = kCapComputer | kCapBash | kCapTextEditor | kCapMemory;

// A number at the front of `s` (digits only), consumed; -1 if none.
int ConsumeNumber(std::string_view* s) {
  size_t n = 0;
  int v = 0;
  while (n < s->size() && n < 3 && std::isdigit(static_cast<unsigned char>((*s)[n])) != 0) {
    v = v * 10 + ((*s)[n] - '0');
    ++n;
  }
  if (n == 0 || (n < s->size() && std::isdigit(static_cast<unsigned char>((*s)[n])) != 0)) {
    return -1;  // none, or a date (claude-opus-4-20250514)
  }
  s->remove_prefix(n);
  return v;
}

// Claude, from "claude-" on (Bedrock "us.anthropic.claude-...-v1:0", Vertex "...@date" too).
// Names: claude-<family>-<major>[-<minor>][-<date>] (4 and later), claude-<major>[-<minor>]-
// <family>[-<date>] (3.x).
ModelFacts ClaudeFacts(std::string_view name) {
  ModelFacts f;
  f.context_window = k200k;
  std::string_view family;
  int major = -1;
  int minor = 0;
  std::string_view s = name;
  if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0])) != 0) {  // claude-3-5-sonnet
    major = ConsumeNumber(&s);
    if (common::ConsumePrefix(&s, "-") && !s.empty() &&
        std::isdigit(static_cast<unsigned char>(s[0])) != 0) {
      minor = ConsumeNumber(&s);
      common::ConsumePrefix(&s, "-");
    }
    family = s.substr(0, s.find('-'));
  } else {
    family = s.substr(0, s.find('-'));
    s.remove_prefix(family.size());
    if (common::ConsumePrefix(&s, "-")) {
      major = ConsumeNumber(&s);
      if (major >= 0 && common::ConsumePrefix(&s, "-")) {
        const int m = ConsumeNumber(&s);
        minor = m < 0 ? 0 : m;
      }
    }
  }
  if (common::StartsWithIgnoreCase(family, "haiku")) {
    f.tier = Tier::kSmall;
  } else if (common::StartsWithIgnoreCase(family, "sonnet")) {
    f.tier = Tier::kMedium;
  } else if (common::StartsWithIgnoreCase(family, "opus") ||
             common::StartsWithIgnoreCase(family, "fable")) {
    f.tier = Tier::kLarge;
  }
  const int version = major < 0 ? -1 : major * 10 + minor;
  if (major == 3) {
    // Extended thinking came with 3.7 Sonnet.
    if (version != 37) {
      f.lacks |= kCapThinking;
    }
    return f;
  }
  // Opus 4.6 and Sonnet 4.6 brought a 1M window, as has every model from 5 on; Sonnet 4 and 4.5
  // have it with the context-1m beta (platform.claude.com model overviews).
  if (version >= 50 || (version >= 46 && f.tier != Tier::kSmall)) {
    f.context_window = k1m;
  } else if (f.tier == Tier::kMedium && version >= 40) {
    f.context_window_beta = k1m;
  }
  return f;
}

// GLM on Z.AI (docs.z.ai model pages): first prefix that matches wins. Text models do not take
// images; the "v" models do.
struct GlmEntry {
  std::string_view prefix;
  int64_t context_window;
  Tier tier;
  bool images;
};
constexpr std::array<GlmEntry, 13> kGlm = {{
    {"glm-5.3-flash", k1m, Tier::kSmall, true},
    {"glm-5v", k200k, Tier::kLarge, true},  // glm-5v-turbo
    {"glm-5.3", k1m, Tier::kLarge, false},
    {"glm-5.2", k1m, Tier::kLarge, false},
    {"glm-5", k200k, Tier::kLarge, false},  // glm-5, glm-5-turbo, glm-5.1
    {"glm-4.7-flash", k200k, Tier::kSmall, false},  // flash, flashx
    {"glm-4.7", k200k, Tier::kMedium, false},
    {"glm-4.6v", k128k, Tier::kMedium, true},
    {"glm-4.6", k200k, Tier::kMedium, false},
    {"glm-4.5v", k64k, Tier::kMedium, true},
    {"glm-4.5-air", k128k, Tier::kSmall, false},  // air, airx
    {"glm-4.5-flash", k128k, Tier::kSmall, false},
    {"glm-4.5", k128k, Tier::kMedium, false},  // glm-4.5, glm-4.5-x
}};

}  // namespace

std::string_view TierName(Tier tier) {
  switch (tier) {
    case Tier::kSmall:
      return "small";
    case Tier::kMedium:
      return "medium";
    case Tier::kLarge:
      return "large";
    default:
      return "unknown";
  }
}

bool ParseTier(std::string_view name, Tier* tier) {
  for (Tier t : {Tier::kSmall, Tier::kMedium, Tier::kLarge}) {
    if (common::EqualsIgnoreCase(name, TierName(t))) {
      *tier = t;
      return true;
    }
  }
  return false;
}

uint32_t CapabilityBit(std::string_view name) {
  for (const CapabilityName& c : kCapabilityNames) {
    if (c.name == name) {
      return c.bit;
    }
  }
  return 0;
}

std::vector<std::string_view> CapabilityNames() {
  std::vector<std::string_view> out;
  for (const CapabilityName& c : kCapabilityNames) {
    out.push_back(c.name);
  }
  return out;
}

std::string CapabilityList(uint32_t bits) {
  std::string out;
  for (const CapabilityName& c : kCapabilityNames) {
    if ((bits & c.bit) != 0) {
      common::StrAppend(&out, out.empty() ? "" : ", ", c.name);
    }
  }
  return out;
}

uint32_t TypeCapabilities(std::string_view type) {
  // Anthropic, and Foundry (Anthropic's API; Azure-hosted deployments refuse server tools:
  // narrow those with providers[].capabilities).
  if (type == "anthropic" || type == "azure") {
    return kAllCapabilities;
  }
  // Vertex passes the web-search beta but drops web-fetch and code-execution (betas.cc).
  if (type == "vertex") {
    return kCapThinking | kCapImages | kCapWebSearch | kClientDefinedTools;
  }
  // Bedrock has none of Anthropic's server tools.
  if (type == "bedrock") {
    return kCapThinking | kCapImages | kClientDefinedTools;
  }
  // Z.AI and Ollama: thinking and images (per model), no server tools (Z.AI offers search and
  // vision as MCP servers, not in the Messages API; Ollama's Messages API has no server tools).
  if (type == "zai" || type == "ollama") {
    return kCapThinking | kCapImages;
  }
  return kAllCapabilities;
}

ModelFacts BuiltinModelFacts(std::string_view model) {
  if (const size_t at = model.find("claude-"); at != std::string_view::npos) {
    return ClaudeFacts(model.substr(at + 7));
  }
  if (common::StartsWithIgnoreCase(model, "glm-")) {
    for (const GlmEntry& e : kGlm) {
      if (common::StartsWithIgnoreCase(model, e.prefix)) {
        ModelFacts f;
        f.context_window = e.context_window;
        f.tier = e.tier;
        f.lacks = e.images ? 0u : static_cast<uint32_t>(kCapImages);
        return f;
      }
    }
  }
  return {};
}

bool HasContext1mBeta(std::string_view betas) {
  size_t at = 0;
  while ((at = betas.find("context-1m-", at)) != std::string_view::npos) {
    if (at == 0 || betas[at - 1] == ',' || betas[at - 1] == ' ') {
      return true;
    }
    at += 11;
  }
  return false;
}

ModelFit ResolveFit(const ProviderFitConfig& config, std::string_view provider_type,
                    std::string_view model, std::string_view betas) {
  const ModelFacts facts = BuiltinModelFacts(model);
  ModelFit fit;
  if (config.context_window > 0) {
    fit.context_window = config.context_window;
  } else {
    fit.context_window = facts.context_window_beta > 0 && HasContext1mBeta(betas)
                             ? facts.context_window_beta
                             : facts.context_window;
  }
  fit.tier = config.tier != Tier::kUnknown ? config.tier : facts.tier;
  fit.capabilities = config.capabilities_set ? config.capabilities
                                             : (TypeCapabilities(provider_type) & ~facts.lacks);
  return fit;
}

}  // namespace ccrelay::routing
