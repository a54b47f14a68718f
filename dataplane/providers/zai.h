#pragma once

#include "dataplane/providers/provider.h"

namespace ccrelay::providers {

// Z.AI (GLM) Anthropic-compatible endpoint: Authorization: Bearer <key> (protocols.md §6).
class ZaiProvider : public Provider {
 public:
  // providers::Provider
  std::string_view Type() const override { return "zai"; }
  std::string_view OwnedBy() const override { return "zhipu"; }
  std::string_view DefaultBaseUrl() const override { return "https://api.z.ai/api/anthropic"; }
  void AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const override;
  bool SupportsCountTokens() const override { return true; }
  bool SupportsPassthrough() const override { return false; }
};

}  // namespace ccrelay::providers
