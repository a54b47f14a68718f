#pragma once

#include <string>
#include <string_view>

namespace ccrelay::http {

// The one place that turns a relay-made error into Anthropic's shape (protocols.md 1.7):
// {"type":"error","error":{"type":"<type>","message":"<message>"},"request_id":"<id>"}
std::string AnthropicErrorBody(std::string_view type, std::string_view message,
                               std::string_view request_id);

// The same error as an SSE event for a stream that already started:
// "event: error\ndata: {...same JSON...}\n\n"
std::string AnthropicErrorEvent(std::string_view type, std::string_view message,
                                std::string_view request_id);

// Appends the error object without a request id, as Anthropic's own events and a translated
// upstream error carry it: {"type":"error","error":{"type":"<type>","message":"<message>"}}
void AppendAnthropicErrorJson(std::string_view type, std::string_view message, std::string* out);

// Anthropic's error type for an HTTP status: 400 invalid_request_error, 401 authentication_error,
// 402 billing_error, 403 permission_error, 404 not_found_error, 405 invalid_request_error,
// 409 conflict_error, 413 request_too_large, 429 rate_limit_error, 431 invalid_request_error,
// 500 api_error, 502 api_error, 503 api_error, 504 timeout_error,
// 529 overloaded_error; any other 4xx invalid_request_error, other 5xx api_error.
std::string_view ErrorTypeForStatus(int status);

}  // namespace ccrelay::http
