#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// What the relay knows of models and provider types without being told: context windows,
// quality tiers, and what each provider type supports (thinking, images, Anthropic server
// tools). The cost-based strategy leaves out a provider that cannot handle a request by these
// facts; `providers[].context_window`, `tier` and `capabilities` override them. Plain data, no
// I/O: the config library links it to check names.
namespace ccrelay::routing {

// A model's quality tier, lowest first. kUnknown ranks below kSmall.
enum class Tier : uint8_t { kUnknown = 0, kSmall = 1, kMedium = 2, kLarge = 3 };

std::string_view TierName(Tier tier);  // "small", "medium", "large", "unknown"
// "small" | "medium" | "large" (ASCII case ignored); false otherwise.
bool ParseTier(std::string_view name, Tier* tier);
// The written tier names, for messages.
inline constexpr std::string_view kTierNames[] = {"small", "medium", "large"};

// Capability bits: what a request uses and a provider supports. The tool bits are
// http::ServerTool's (request_scan.h), so RouteRequest::server_tools is a capability set as is.
enum Capability : uint32_t {
  kCapWebSearch = 1u << 0,
  kCapWebFetch = 1u << 1,
  kCapCodeExecution = 1u << 2,
  kCapComputer = 1u << 3,
  kCapBash = 1u << 4,
  kCapTextEditor = 1u << 5,
  kCapMemory = 1u << 6,
  kCapThinking = 1u << 16,
  kCapImages = 1u << 17,
  kCapOtherServerTools = 1u << 31,  // a typed tool the relay does not know
};
inline constexpr uint32_t kAllCapabilities =
    kCapWebSearch | kCapWebFetch | kCapCodeExecution | kCapComputer | kCapBash | kCapTextEditor |
    kCapMemory | kCapThinking | kCapImages | kCapOtherServerTools;

// The bit of a config name ("web_search", "thinking", ...); 0 if unknown.
uint32_t CapabilityBit(std::string_view name);
// Every config name, in bit order.
std::vector<std::string_view> CapabilityNames();
// "thinking, web_search" (bit order); "" for 0.
std::string CapabilityList(uint32_t bits);

// What a provider type supports when its config does not say (`providers[].capabilities`).
uint32_t TypeCapabilities(std::string_view provider_type);

// Built-in facts of a model (the name sent upstream). Unknown facts stay at their defaults.
struct ModelFacts {
  int64_t context_window = 0;       // tokens; 0: unknown (no limit)
  int64_t context_window_beta = 0;  // with an anthropic-beta context-1m-* (0: no such variant)
  Tier tier = Tier::kUnknown;
  uint32_t lacks = 0;  // capabilities the model itself does not have (thinking, images)
};
ModelFacts BuiltinModelFacts(std::string_view model);

// The anthropic-beta header names a context-1m-* beta.
bool HasContext1mBeta(std::string_view betas);

// `providers[].context_window`, `tier` and `capabilities` as compiled (unset: built-in).
struct ProviderFitConfig {
  int64_t context_window = 0;  // 0: built-in
  Tier tier = Tier::kUnknown;  // kUnknown: built-in
  bool capabilities_set = false;
  uint32_t capabilities = 0;
};

// What one provider offers for one request.
struct ModelFit {
  int64_t context_window = 0;  // 0: no known limit
  Tier tier = Tier::kUnknown;
  uint32_t capabilities = 0;
};

// The config's values where set, else the built-in facts of `model` on `provider_type`
// (capabilities: the type's, less what the model lacks).
ModelFit ResolveFit(const ProviderFitConfig& config, std::string_view provider_type,
                    std::string_view model, std::string_view betas);

}  // namespace ccrelay::routing
