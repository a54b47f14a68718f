#include <array>
#include <utility>

#include "dataplane/providers/anthropic.h"
#include "dataplane/providers/azure.h"
#include "dataplane/providers/bedrock.h"
#include "dataplane/providers/ollama.h"
#include "dataplane/providers/provider.h"
#include "dataplane/providers/vertex.h"
#include "dataplane/providers/zai.h"

namespace ccrelay::providers {

namespace {

const AnthropicProvider kAnthropic;
const ZaiProvider kZai;
const OllamaProvider kOllama;
const BedrockProvider kBedrock;
const VertexProvider kVertex;
const AzureProvider kAzure;

// Every provider type the relay speaks: a new type is a file of its own and one line here.
constexpr std::array<std::pair<std::string_view, const Provider*>, 6> kProviders = {{
    {"anthropic", &kAnthropic},
    {"zai", &kZai},
    {"ollama", &kOllama},
    {"bedrock", &kBedrock},
    {"vertex", &kVertex},
    {"azure", &kAzure},
}};

}  // namespace

const Provider* FindProvider(std::string_view type) {
  for (const auto& [name, provider] : kProviders) {
    if (name == type) {
      return provider;
    }
  }
  return nullptr;
}

}  // namespace ccrelay::providers
