#pragma once

#include <string>
#include <string_view>

#include "dataplane/providers/provider.h"

namespace ccrelay::providers {

// Claude in Microsoft (Azure AI) Foundry (protocols.md 5): the Anthropic Messages API under
// https://{resource}.services.ai.azure.com/anthropic, so the client's path and query go under the
// base URL's prefix as they are, and the body's model is the deployment name (model_mapping
// splices it as for Anthropic). A configured key is an API key, sent as `api-key` and
// `x-api-key` (the Python SDK sends both); a minted Entra ID token (Key.oauth_token) goes as
// Authorization: Bearer. The client's credentials never go. anthropic-beta is filtered through
// the Azure table (betas.h: unknown betas pass). Foundry has no Models API: the relay's
// /v1/models lists the configured deployments (models and model_mapping targets).
class AzureProvider : public Provider {
 public:
  // providers::Provider
  std::string_view Type() const override { return "azure"; }
  std::string_view OwnedBy() const override { return "azure-foundry"; }
  // The real base URL names the resource (the config fills base_url: AzureDefaultBaseUrl).
  std::string_view DefaultBaseUrl() const override {
    return "https://services.ai.azure.com/anthropic";
  }
  void AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const override;
  bool SupportsCountTokens() const override { return true; }
  bool SupportsPassthrough() const override { return false; }
  bool UsableWithoutKeys() const override { return false; }
  bool ListsDeployments() const override { return true; }
  void BuildRequest(const ClientRequestView& req, const UpstreamTarget& target,
                    UpstreamRequestPlan* out) const override;
  // POST /v1/messages/count_tokens of a one-word message on the first deployment: no tokens
  // spent. Foundry checks the key first, so 401/403 mean the key is refused; a 404 (a deployment
  // without count_tokens, or none of that name) still means reachable with the key accepted.
  bool HealthCheckVerifiesKeys() const override { return true; }
  void BuildHealthCheck(const UpstreamTarget& target, std::string_view model,
                        UpstreamRequestPlan* out) const override;
};

// The deployment the health check names when the provider lists none.
inline constexpr std::string_view kAzureHealthCheckModel = "claude-sonnet-4-5";

// https://{resource}.services.ai.azure.com/anthropic
std::string AzureDefaultBaseUrl(std::string_view resource_name);

}  // namespace ccrelay::providers
