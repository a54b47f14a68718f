#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/fields.hpp>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "dataplane/auth/authenticator.h"
#include "dataplane/http/request_fields.h"
#include "dataplane/http/request_scan.h"
#include "dataplane/providers/betas.h"

namespace ccrelay::providers {

// One header to add to an upstream request.
struct HeaderField {
  std::string name;
  std::string value;
};

// What an adapter sees of the client's request. Everything is borrowed from the exchange and
// valid for the call only.
struct ClientRequestView {
  std::string_view target;                     // path and query as the client sent them
  const http::RequestFields& headers;          // the client's headers, untouched
  const http::RequestInfo& info;               // the scanned body (model and its byte range)
  std::string_view body;                       // the body as the client sent it
  bool count_tokens = false;                   // POST /v1/messages/count_tokens
  auth::AuthMethod client_auth = auth::AuthMethod::kOpen;  // how the client passed the relay
};

// SigV4 credentials of a pooled key (Bedrock IAM credentials). Borrowed from the routing table.
struct AwsSigningKey {
  std::string_view access_key_id;
  std::string_view secret_access_key;
  std::string_view session_token;  // "" = long-term credentials
};

// Where the request goes and with which credential, as routing chose them.
struct UpstreamTarget {
  std::string_view host_header;  // Host: value (port omitted when default)
  std::string_view path_prefix;  // the base URL's path ("" or "/api/anthropic")
  std::string_view mapped_model;  // model_mapping applied (equal to info.model when unmapped)
  // The pooled key to authenticate with; empty with `passthrough` (the client's own
  // credentials go upstream where the type allows it).
  std::string_view key;
  // The pooled key's SigV4 credentials instead of `key` (Bedrock keys with IAM credentials).
  const AwsSigningKey* aws = nullptr;
  std::string_view region;  // the provider's cloud region ("" where the type has none)
  std::string_view project;  // the provider's cloud project (Vertex's gcp_project_id; "" = none)
  int64_t unix_seconds = 0;  // now, for request signatures
  bool passthrough = false;
  // `key` is an OAuth access token the control plane minted (Vertex's Google token, Azure's
  // Entra ID token): Authorization: Bearer. false: the type's own key header.
  bool oauth_token = false;
  // The provider's anthropic-beta filter (its type's table and its policy); nullptr = nothing to
  // filter (anthropic, zai, ollama without a policy). Adapters of types with a built-in table
  // fall back to BetaFilter::Default(Type()).
  const BetaFilter* betas = nullptr;
};

// What goes upstream for one attempt. The exchange keeps one and the adapter refills it for
// every attempt (its strings keep their capacity: no allocation per request once warm).
struct UpstreamRequestPlan {
  // One replacement of body[begin, end) by `replacement` (splices sorted, not overlapping).
  struct Splice {
    size_t begin = 0;
    size_t end = 0;
    std::string replacement;
    // Static bytes used instead of `replacement` when not empty (no allocation per request).
    std::string_view fixed;
    std::string_view Bytes() const { return fixed.empty() ? std::string_view(replacement) : fixed; }
  };
  // Splices an adapter may make (the exchange gathers head + 2 per splice + tail buffers).
  static constexpr size_t kMaxSplices = 3;
  enum class BodyKind : uint8_t {
    kUnchanged,  // the client's body as is
    kSpliced,    // the client's body with `splices` applied (a few bytes changed in place)
    kRewritten,  // `rewritten_body` instead (a provider that needs another shape)
  };

  // Request line, headers (Content-Length included) and the blank line.
  std::string head;
  BodyKind body_kind = BodyKind::kUnchanged;
  absl::InlinedVector<Splice, kMaxSplices> splices;  // at most kMaxSplices
  std::string rewritten_body;
  // Set when the request cannot be shaped for this provider: the client gets 400
  // invalid_request_error with this message and nothing goes upstream.
  std::string error;
  // The client's betas as filtered for this provider, when the adapter filtered them: the
  // exchange logs and counts `betas.dropped` (views into the client's headers and the filter).
  FilteredBetas betas;

  void Clear() {
    head.clear();
    body_kind = BodyKind::kUnchanged;
    splices.clear();
    rewritten_body.clear();
    error.clear();
    betas.kept.Clear();
    betas.dropped.Clear();
  }
  // Size of the body that goes upstream, given the client's body.
  size_t BodySize(std::string_view client_body) const;
};

// Decodes an upstream response body into what the client receives (Anthropic SSE or JSON), for
// providers whose wire format differs (Bedrock's binary event stream). One per answer.
class ResponseDecoder {
 public:
  virtual ~ResponseDecoder() = default;
  // Content-Type of the decoded body, sent to the client instead of the upstream's.
  virtual std::string_view ContentType() const = 0;
  // Decodes `in` (any split of the upstream body), appending client bytes to `out`. `end`: the
  // upstream body is complete. An error ends the answer as an upstream failure mid-stream.
  virtual absl::Status Decode(std::string_view in, bool end, std::string* out) = 0;
};
using ResponseDecoderPtr = std::unique_ptr<ResponseDecoder>;

// What an upstream answer means for the pool and for the client.
enum class AnswerClass : uint8_t {
  kSuccess,      // 2xx
  kClientError,  // the request's own fault (400, 404, 413, ...): returned as is
  kRateLimited,  // 429 or a quota: the key cools down; another key or provider is tried
  kKeyRejected,  // 401/403 on a pooled key: the key is disabled; another key is tried
  kOverloaded,   // 529: other providers first, then back after a jittered backoff
  kServerError,  // 5xx: another provider; counts against the breakers
};

struct AnswerVerdict {
  AnswerClass answer = AnswerClass::kClientError;
  // Another candidate may be tried (the client sees this answer only if none is left).
  bool retryable = false;
};

// A provider adapter: how one provider type wants a request, does no I/O and keeps no state
// between calls (one immutable instance per type, shared by every worker). One file per type;
// provider_registry.cc maps type names to adapters. SPEC.md "Provider adapters" has the
// contract and how to add a type.
class Provider {
 public:
  virtual ~Provider() = default;

  virtual std::string_view Type() const = 0;
  // Owner shown in GET /v1/models ("anthropic", "zhipu", "ollama").
  virtual std::string_view OwnedBy() const = 0;
  virtual std::string_view DefaultBaseUrl() const = 0;
  // Headers that authenticate `key` (non-empty) with this provider.
  virtual void AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const = 0;
  // Whether POST /v1/messages/count_tokens is served.
  virtual bool SupportsCountTokens() const = 0;
  // Whether a provider of this type without keys forwards the client's own credentials.
  virtual bool SupportsPassthrough() const = 0;

  // The request that goes upstream for `req` to `target`: fills `out` (cleared by the caller).
  // The default is the Anthropic Messages API as is: the client's path under the base URL's
  // prefix, its headers less hop-by-hop ones and relay credentials, the key's auth headers, and
  // the body with only the model string spliced when model_mapping changed it.
  virtual void BuildRequest(const ClientRequestView& req, const UpstreamTarget& target,
                            UpstreamRequestPlan* out) const;
  // A decoder for an answer with this status and headers, or nullptr to pass the body through
  // unchanged (Anthropic SSE and JSON). `count_tokens`: the answer to POST
  // /v1/messages/count_tokens.
  virtual ResponseDecoderPtr NewResponseDecoder(int status,
                                                const boost::beast::http::fields& headers,
                                                bool count_tokens) const;
  // What an answer with `status` means. `pooled_key`: the attempt used a pooled key (not the
  // client's own credentials).
  virtual AnswerVerdict Classify(int status, const boost::beast::http::fields& headers,
                                 bool pooled_key) const;

  // The control plane's active health check: a cheap GET (path and query, appended to the base
  // URL's path prefix) that costs no tokens. Anthropic-shaped types ask for one model
  // (GET /v1/models?limit=1), which needs a valid key.
  virtual std::string_view HealthCheckTarget() const { return "/v1/models?limit=1"; }
  // Whether that GET verifies the key (so each key is checked on its own); false: one check per
  // provider.
  virtual bool HealthCheckVerifiesKeys() const { return true; }
  // Whether the relay may send a request of its own with `key` (false for credentials only
  // their owner's client may use, such as subscription OAuth tokens).
  virtual bool MayProbeWithKey(std::string_view key) const {
    (void)key;
    return true;
  }
  // The active health check as a request for `target` (its key or AWS credentials), with `model`
  // the provider serves ("" if none is known): the head in `out->head` and a rewritten body, if
  // any. The default is GET HealthCheckTarget() with AuthHeaders(target.key).
  virtual void BuildHealthCheck(const UpstreamTarget& target, std::string_view model,
                                UpstreamRequestPlan* out) const;
  // Whether a provider of this type without keys is usable at all (false: it needs credentials
  // the control plane resolves, such as the AWS credential chain; until then it is skipped).
  virtual bool UsableWithoutKeys() const { return true; }
  // Whether the provider's model_mapping targets are names it serves (Azure's deployments): the
  // relay's /v1/models lists them and a request may name one directly.
  virtual bool ListsDeployments() const { return false; }

  // Appends the credential headers of `target`'s key: Authorization: Bearer for a minted OAuth
  // token (target.oauth_token), else AuthHeaders(target.key).
  void AppendKeyHeaders(const UpstreamTarget& target, std::string* head) const;
};

// The Anthropic Messages API classification (protocols.md 1.5): 429 rate limited, 401/403 a
// rejected pooled key, 529 overloaded, 500/502/503/504 retryable server errors, other 5xx
// server errors returned as they are, anything else the client's.
AnswerVerdict ClassifyAnthropicStatus(int status, bool pooled_key);

// Appends the client's headers that may go upstream to `head` as "name: value\r\n": hop-by-hop
// headers, those named in Connection, Host, Content-Length, Expect, Accept-Encoding and
// x-cc-relay-* are dropped; client credentials are dropped when `keep_client_credentials` is
// false, and a relay credential (the client authenticated to the relay with it) always is.
// `drop_betas`: anthropic-beta is left out too (the caller writes the filtered list).
void AppendForwardedHeaders(const ClientRequestView& req, bool keep_client_credentials,
                            std::string* head, bool drop_betas = false);

// Filters the client's anthropic-beta headers through `filter` into `out->betas` and writes the
// kept ones as one anthropic-beta header into `out->head`.
void AppendFilteredBetas(const ClientRequestView& req, const BetaFilter& filter,
                         UpstreamRequestPlan* out);

// The adapter for a type name, or nullptr for an unknown type.
const Provider* FindProvider(std::string_view type);

}  // namespace ccrelay::providers
