#pragma once

#include "dataplane/providers/provider.h"

namespace ccrelay::providers {

// First-party Anthropic API. API keys go in x-api-key; OAuth tokens (sk-ant-oat…) configured as
// keys go in Authorization: Bearer. Without keys the client's credentials pass through.
class AnthropicProvider : public Provider {
 public:
  // providers::Provider
  std::string_view Type() const override { return "anthropic"; }
  std::string_view OwnedBy() const override { return "anthropic"; }
  std::string_view DefaultBaseUrl() const override { return "https://api.anthropic.com"; }
  void AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const override;
  bool SupportsCountTokens() const override { return true; }
  bool SupportsPassthrough() const override { return true; }
};

}  // namespace ccrelay::providers
