#pragma once

#include "dataplane/providers/provider.h"

namespace ccrelay::providers {

// Ollama's Anthropic-compatible /v1/messages (v0.14+, protocols.md §7). The key is accepted but
// not checked; without one the relay sends `x-api-key: ollama`. No count_tokens.
class OllamaProvider : public Provider {
 public:
  // providers::Provider
  std::string_view Type() const override { return "ollama"; }
  std::string_view OwnedBy() const override { return "ollama"; }
  std::string_view DefaultBaseUrl() const override { return "http://localhost:11434"; }
  void AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const override;
  bool SupportsCountTokens() const override { return false; }
  bool SupportsPassthrough() const override { return false; }
  // Ollama's own model list (protocols.md 7.2); Ollama accepts any key, so one check per provider.
  std::string_view HealthCheckTarget() const override { return "/api/tags"; }
  bool HealthCheckVerifiesKeys() const override { return false; }
};

}  // namespace ccrelay::providers
