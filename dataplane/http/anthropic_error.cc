#include "dataplane/http/anthropic_error.h"

#include <string>
#include <string_view>

#include "dataplane/http/request_scan.h"

namespace ccrelay::http {

std::string AnthropicErrorBody(std::string_view type, std::string_view message,
                               std::string_view request_id) {
  std::string out;
  out.reserve(64 + type.size() + message.size() + request_id.size());
  out.append(R"({"type":"error","error":{"type":)");
  out.append(JsonQuote(type));
  out.append(R"(,"message":)");
  out.append(JsonQuote(message));
  out.append(R"(},"request_id":)");
  out.append(JsonQuote(request_id));
  out.push_back('}');
  return out;
}

std::string AnthropicErrorEvent(std::string_view type, std::string_view message,
                                std::string_view request_id) {
  std::string out = "event: error\ndata: ";
  out.append(AnthropicErrorBody(type, message, request_id));
  out.append("\n\n");
  return out;
}

void AppendAnthropicErrorJson(std::string_view type, std::string_view message, std::string* out) {
  out->append(R"({"type":"error","error":{"type":)");
  out->append(JsonQuote(type));
  out->append(R"(,"message":)");
  out->append(JsonQuote(message));
  out->append("}}");
}

std::string_view ErrorTypeForStatus(int status) {
  switch (status) {
    case 400:
    case 405:
    case 431:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 409:
      return "conflict_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 500:
    case 502:
    case 503:
      return "api_error";
    case 504:
      return "timeout_error";
    case 529:
      return "overloaded_error";
    default:
      break;
  }
  if (status >= 400 && status < 500) {
    return "invalid_request_error";
  }
  return "api_error";
}

}  // namespace ccrelay::http
