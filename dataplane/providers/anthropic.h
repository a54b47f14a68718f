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
  // Subscription OAuth tokens (sk-ant-oat…) are for Anthropic's own clients: the relay forwards
  // Claude Code's requests with them but synthesises none (protocols.md 1.3).
  bool MayProbeWithKey(std::string_view key) const override {
    return !key.starts_with("sk-ant-oat");
  }
};

}  // namespace ccrelay::providers
