#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "dataplane/providers/provider.h"

namespace ccrelay::providers::vertex {

// Anthropic's error type for a Google RPC status name (google.rpc.Code), "" for a name not
// listed here:
//   INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED  invalid_request_error
//   UNAUTHENTICATED                                                    authentication_error
//   PERMISSION_DENIED                                                  permission_error
//   NOT_FOUND                                                          not_found_error
//   ALREADY_EXISTS, ABORTED                                            conflict_error
//   RESOURCE_EXHAUSTED                                                 rate_limit_error
//   DEADLINE_EXCEEDED                                                  timeout_error
//   UNAVAILABLE                                                        overloaded_error
//   INTERNAL, UNKNOWN, DATA_LOSS, CANCELLED                            api_error
std::string_view AnthropicErrorTypeForGoogleStatus(std::string_view status);

// Translates a Vertex AI error answer (status >= 400) into Anthropic's error JSON:
// - already Anthropic's ({"type":"error",...}: a model-level error) -> unchanged;
// - Google's {"error":{"code":N,"message":M,"status":S}}, also as the first element of a JSON
//   array -> {"type":"error","error":{"type":<S's type>,"message":M}}; an unknown or missing S
//   takes the type of the HTTP status (http::ErrorTypeForStatus);
// - anything else (HTML from a load balancer, empty) -> the HTTP status's type with a message
//   naming the status.
std::string TranslateVertexError(int status, std::string_view body);

// A Vertex error answer, buffered whole (at most kMaxBodyBytes) and translated by
// TranslateVertexError. Content-Type application/json.
class VertexErrorAnswer : public ResponseDecoder {
 public:
  static constexpr size_t kMaxBodyBytes = size_t{1} << 20;

  explicit VertexErrorAnswer(int status) : status_(status) {}

  // providers::ResponseDecoder
  std::string_view ContentType() const override { return "application/json"; }
  absl::Status Decode(std::string_view in, bool end, std::string* out) override;

 private:
  int status_;
  std::string body_;
};

}  // namespace ccrelay::providers::vertex
