#include "dataplane/providers/bedrock/bedrock_errors.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include <simdjson.h>

#include "dataplane/common/str.h"
#include "dataplane/http/anthropic_error.h"

namespace ccrelay::providers::bedrock {

namespace {

namespace od = simdjson::ondemand;

struct ExceptionType {
  std::string_view name;
  std::string_view type;
};

constexpr std::array kExceptionTypes = {
    ExceptionType{"ValidationException", "invalid_request_error"},
    ExceptionType{"ServiceQuotaExceededException", "invalid_request_error"},
    ExceptionType{"IncompleteSignatureException", "authentication_error"},
    ExceptionType{"MissingAuthenticationTokenException", "authentication_error"},
    ExceptionType{"UnrecognizedClientException", "authentication_error"},
    ExceptionType{"InvalidSignatureException", "authentication_error"},
    ExceptionType{"InvalidClientTokenId", "authentication_error"},
    ExceptionType{"SignatureDoesNotMatch", "authentication_error"},
    ExceptionType{"ExpiredTokenException", "authentication_error"},
    ExceptionType{"AccessDeniedException", "permission_error"},
    ExceptionType{"ResourceNotFoundException", "not_found_error"},
    ExceptionType{"ConflictException", "conflict_error"},
    ExceptionType{"ThrottlingException", "rate_limit_error"},
    ExceptionType{"TooManyRequestsException", "rate_limit_error"},
    ExceptionType{"ModelTimeoutException", "timeout_error"},
    ExceptionType{"ModelNotReadyException", "overloaded_error"},
    ExceptionType{"ServiceUnavailableException", "overloaded_error"},
    ExceptionType{"InternalServerException", "api_error"},
    ExceptionType{"ModelErrorException", "api_error"},
    ExceptionType{"ModelStreamErrorException", "api_error"},
};

od::parser& ThreadParser() {
  thread_local od::parser parser;
  return parser;
}

// The string value of `key` in `object` ("" when absent or not a string).
std::string_view StringField(od::object& object, std::string_view key) {
  std::string_view value;
  if (object.find_field_unordered(key).get_string().get(value) != simdjson::SUCCESS) {
    return {};
  }
  return value;
}

}  // namespace

std::string_view AnthropicErrorTypeForException(std::string_view name) {
  for (const ExceptionType& e : kExceptionTypes) {
    if (common::EqualsIgnoreCase(e.name, name)) {
      return e.type;
    }
  }
  return {};
}

std::string_view AwsErrorName(std::string_view code) {
  code = code.substr(0, code.find(','));
  code = code.substr(0, code.find(':'));
  if (const size_t hash = code.find('#'); hash != std::string_view::npos) {
    code = code.substr(hash + 1);
  }
  return common::StripWhitespace(code);
}

std::string BedrockErrorMessage(std::string_view body) {
  const simdjson::padded_string padded(body.data(), body.size());
  od::document doc;
  od::object root;
  if (ThreadParser().iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(root) != simdjson::SUCCESS) {
    return {};
  }
  std::string message(StringField(root, "message"));
  if (message.empty()) {
    message = StringField(root, "Message");
  }
  return message;
}

std::string TranslateBedrockError(int status, std::string_view error_type_header,
                                  std::string_view body, std::string_view request_id) {
  std::string name(AwsErrorName(error_type_header));
  std::string message;
  bool parsed = false;
  const simdjson::padded_string padded(body.data(), body.size());
  od::document doc;
  od::object root;
  if (ThreadParser().iterate(padded).get(doc) == simdjson::SUCCESS &&
      doc.get_object().get(root) == simdjson::SUCCESS) {
    parsed = true;
    // Each lookup may scan the object from where the last stopped (find_field_unordered wraps).
    message = StringField(root, "message");
    if (message.empty()) {
      message = StringField(root, "Message");
    }
    if (name.empty()) {
      name = AwsErrorName(StringField(root, "__type"));
    }
    if (name.empty()) {
      name = AwsErrorName(StringField(root, "code"));
    }
  }
  std::string_view type = AnthropicErrorTypeForException(name);
  if (type.empty()) {
    type = parsed ? http::ErrorTypeForStatus(status) : std::string_view("api_error");
  }
  if (message.empty()) {
    message = common::StrCat("Bedrock answered HTTP ", status);
    if (!name.empty()) {
      common::StrAppend(&message, " (", name, ")");
    }
  }
  if (!request_id.empty()) {
    return http::AnthropicErrorBody(type, message, request_id);
  }
  std::string out;
  out.reserve(64 + type.size() + message.size());
  http::AppendAnthropicErrorJson(type, message, &out);
  return out;
}

absl::StatusOr<std::string> TranslateCountTokens(std::string_view body) {
  const simdjson::padded_string padded(body.data(), body.size());
  od::document doc;
  od::object root;
  int64_t tokens = 0;
  if (ThreadParser().iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(root) != simdjson::SUCCESS ||
      root.find_field_unordered("inputTokens").get_int64().get(tokens) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("Bedrock CountTokens answer without an integer inputTokens");
  }
  return common::StrCat(R"({"input_tokens":)", tokens, "}");
}

}  // namespace ccrelay::providers::bedrock
