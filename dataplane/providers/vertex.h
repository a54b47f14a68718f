#pragma once

#include <string>
#include <string_view>

#include "dataplane/providers/provider.h"

namespace ccrelay::providers {

// Google Vertex AI's Claude endpoints (protocols.md 4). The model goes into the URL,
// {base}/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict
// (:streamRawPredict when the body says "stream": true); count_tokens goes to
// .../models/count-tokens:rawPredict with the model kept in the body. {base} is the provider's
// base_url, API version included (https://aiplatform.googleapis.com/v1); the client's query
// (?beta=true) is dropped. The body is the client's with splices only: "model" removed
// (messages) and "anthropic_version":"vertex-2023-10-16" added when absent (the model member is
// replaced by it in place), "stream" kept; only a body with a cache_control.scope (refused by
// Vertex, vertex/vertex_body.h) is copied without those members. anthropic-beta stays a header,
// filtered through the Vertex table (betas.h). The key (a minted Google access token or a static
// token from the config) goes as Authorization: Bearer; the client's credentials never go.
// Answers are Anthropic JSON and SSE and pass through; Google's error JSON becomes Anthropic's
// (vertex/vertex_errors.h).
class VertexProvider : public Provider {
 public:
  // providers::Provider
  std::string_view Type() const override { return "vertex"; }
  std::string_view OwnedBy() const override { return "vertex-ai"; }
  // The real default depends on gcp_region (the config fills base_url: VertexDefaultBaseUrl).
  std::string_view DefaultBaseUrl() const override {
    return "https://aiplatform.googleapis.com/v1";
  }
  void AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const override;
  bool SupportsCountTokens() const override { return true; }
  bool SupportsPassthrough() const override { return false; }
  bool UsableWithoutKeys() const override { return false; }
  void BuildRequest(const ClientRequestView& req, const UpstreamTarget& target,
                    UpstreamRequestPlan* out) const override;
  ResponseDecoderPtr NewResponseDecoder(int status, const boost::beast::http::fields& headers,
                                        bool count_tokens) const override;
  // count-tokens:rawPredict of a one-word message: free, and Google checks the token first.
  bool HealthCheckVerifiesKeys() const override { return true; }
  void BuildHealthCheck(const UpstreamTarget& target, std::string_view model,
                        UpstreamRequestPlan* out) const override;
};

// The anthropic_version Vertex requires in the body.
inline constexpr std::string_view kVertexAnthropicVersion = "vertex-2023-10-16";
// The model the health check counts tokens with when the provider names none.
inline constexpr std::string_view kVertexHealthCheckModel = "claude-sonnet-4-5@20250929";

// Vertex's base URL for a gcp_region, API version included: global ->
// https://aiplatform.googleapis.com/v1, us / eu ->
// https://aiplatform.{us,eu}.rep.googleapis.com/v1, any other region ->
// https://{region}-aiplatform.googleapis.com/v1.
std::string VertexDefaultBaseUrl(std::string_view region);

// Appends the path of a Vertex publisher model up to (not including) the ':' of the method:
// {prefix}/projects/{project}/locations/{region}/publishers/anthropic/models/{model}. The model is
// percent-encoded except A-Z a-z 0-9 - _ . ~ @ (so a ':' or '/' in a client's model name cannot
// change the method or the path).
void AppendVertexModelPath(std::string_view prefix, std::string_view project,
                           std::string_view region, std::string_view model, std::string* out);

}  // namespace ccrelay::providers
