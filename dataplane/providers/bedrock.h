#pragma once

#include "dataplane/providers/provider.h"

namespace ccrelay::providers {

// AWS Bedrock's InvokeModel API for Claude (protocols.md 3). The request is rewritten, not
// forwarded: the model goes into the URL (/model/{id}/invoke, /invoke-with-response-stream or
// /count-tokens), the body loses `model` and `stream`, gains `anthropic_version` and the betas
// Bedrock accepts (betas.h) as `anthropic_beta`, and keeps only the fields
// Bedrock accepts (bedrock/bedrock_body.h). A key is either a Bedrock API key (Authorization:
// Bearer) or IAM credentials that sign the exact bytes sent with SigV4 (bedrock/sigv4.h).
// Streams come back as AWS event streams and leave as Anthropic SSE
// (bedrock/bedrock_stream_decoder.h); Bedrock's error JSON leaves as Anthropic's.
class BedrockProvider : public Provider {
 public:
  // providers::Provider
  std::string_view Type() const override { return "bedrock"; }
  std::string_view OwnedBy() const override { return "amazon-bedrock"; }
  // The real default depends on aws_region (the config fills base_url).
  std::string_view DefaultBaseUrl() const override {
    return "https://bedrock-runtime.us-east-1.amazonaws.com";
  }
  void AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const override;
  bool SupportsCountTokens() const override { return true; }
  bool SupportsPassthrough() const override { return false; }
  bool UsableWithoutKeys() const override { return false; }
  void BuildRequest(const ClientRequestView& req, const UpstreamTarget& target,
                    UpstreamRequestPlan* out) const override;
  ResponseDecoderPtr NewResponseDecoder(int status, const boost::beast::http::fields& headers,
                                        bool count_tokens) const override;
  AnswerVerdict Classify(int status, const boost::beast::http::fields& headers,
                         bool pooled_key) const override;
  // CountTokens is free and checks the credentials (signature, key, expiry) before anything
  // else: the check costs nothing and verifies every key.
  bool HealthCheckVerifiesKeys() const override { return true; }
  void BuildHealthCheck(const UpstreamTarget& target, std::string_view model,
                        UpstreamRequestPlan* out) const override;
};

// The model the health check counts tokens with when the provider names none (models, then
// model_mapping targets come first).
inline constexpr std::string_view kHealthCheckModel = "anthropic.claude-sonnet-4-5-20250929-v1:0";

// Appends `model` to `out` as a path segment the way the AWS SDKs send it: `:` kept, every byte
// but A-Z a-z 0-9 - _ . ~ : percent-encoded (so an ARN's `/` becomes %2F).
void AppendBedrockModelSegment(std::string_view model, std::string* out);

}  // namespace ccrelay::providers
