#include "dataplane/providers/anthropic.h"
#include "dataplane/providers/ollama.h"
#include "dataplane/providers/provider.h"
#include "dataplane/providers/zai.h"

namespace ccrelay::providers {

const Provider* FindProvider(std::string_view type) {
  static const AnthropicProvider kAnthropic;
  static const ZaiProvider kZai;
  static const OllamaProvider kOllama;
  if (type == "anthropic") {
    return &kAnthropic;
  }
  if (type == "zai") {
    return &kZai;
  }
  if (type == "ollama") {
    return &kOllama;
  }
  return nullptr;
}

}  // namespace ccrelay::providers
