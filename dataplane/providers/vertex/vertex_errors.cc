#include "dataplane/providers/vertex/vertex_errors.h"

#include <array>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include <simdjson.h>

#include "dataplane/common/str.h"
#include "dataplane/http/anthropic_error.h"

namespace ccrelay::providers::vertex {

namespace {

namespace od = simdjson::ondemand;

struct StatusType {
  std::string_view status;
  std::string_view type;
};

constexpr std::array kStatusTypes = {
    StatusType{"INVALID_ARGUMENT", "invalid_request_error"},
    StatusType{"FAILED_PRECONDITION", "invalid_request_error"},
    StatusType{"OUT_OF_RANGE", "invalid_request_error"},
    StatusType{"UNIMPLEMENTED", "invalid_request_error"},
    StatusType{"UNAUTHENTICATED", "authentication_error"},
    StatusType{"PERMISSION_DENIED", "permission_error"},
    StatusType{"NOT_FOUND", "not_found_error"},
    StatusType{"ALREADY_EXISTS", "conflict_error"},
    StatusType{"ABORTED", "conflict_error"},
    StatusType{"RESOURCE_EXHAUSTED", "rate_limit_error"},
    StatusType{"DEADLINE_EXCEEDED", "timeout_error"},
    StatusType{"UNAVAILABLE", "overloaded_error"},
    StatusType{"INTERNAL", "api_error"},
    StatusType{"UNKNOWN", "api_error"},
    StatusType{"DATA_LOSS", "api_error"},
    StatusType{"CANCELLED", "api_error"},
};

od::parser& ThreadParser() {
  thread_local od::parser parser;
  return parser;
}

struct GoogleError {
  bool anthropic = false;  // already Anthropic's shape
  bool google = false;     // {"error":{...}} found
  std::string message;
  std::string status;
};

// Reads Google's {"error":{"message","status"}} (or Anthropic's {"type":"error"}) from `object`.
void ReadErrorObject(od::object& object, GoogleError* out) {
  std::string_view type;
  if (object.find_field_unordered("type").get_string().get(type) == simdjson::SUCCESS &&
      type == "error") {
    out->anthropic = true;
    return;
  }
  od::object error;
  if (object.find_field_unordered("error").get_object().get(error) != simdjson::SUCCESS) {
    return;
  }
  out->google = true;
  std::string_view v;
  if (error.find_field_unordered("message").get_string().get(v) == simdjson::SUCCESS) {
    out->message = v;
  }
  if (error.find_field_unordered("status").get_string().get(v) == simdjson::SUCCESS) {
    out->status = v;
  }
}

GoogleError ParseError(std::string_view body) {
  GoogleError out;
  const simdjson::padded_string padded(body.data(), body.size());
  od::document doc;
  if (ThreadParser().iterate(padded).get(doc) != simdjson::SUCCESS) {
    return out;
  }
  od::json_type type;
  if (doc.type().get(type) != simdjson::SUCCESS) {
    return out;
  }
  if (type == od::json_type::object) {
    od::object object;
    if (doc.get_object().get(object) == simdjson::SUCCESS) {
      ReadErrorObject(object, &out);
    }
  } else if (type == od::json_type::array) {
    // [{"error":{...}}]: the first element says it.
    od::array array;
    if (doc.get_array().get(array) != simdjson::SUCCESS) {
      return out;
    }
    for (auto element : array) {
      od::object object;
      if (element.get_object().get(object) == simdjson::SUCCESS) {
        ReadErrorObject(object, &out);
      }
      break;
    }
  }
  return out;
}

}  // namespace

std::string_view AnthropicErrorTypeForGoogleStatus(std::string_view status) {
  for (const StatusType& s : kStatusTypes) {
    if (s.status == status) {
      return s.type;
    }
  }
  return {};
}

std::string TranslateVertexError(int status, std::string_view body) {
  const GoogleError e = ParseError(body);
  if (e.anthropic) {
    return std::string(body);
  }
  std::string_view type = AnthropicErrorTypeForGoogleStatus(e.status);
  if (type.empty()) {
    type = http::ErrorTypeForStatus(status);
  }
  std::string message = e.message;
  if (message.empty()) {
    message = common::StrCat("Vertex AI answered HTTP ", status);
    if (!e.status.empty()) {
      common::StrAppend(&message, " (", e.status, ")");
    }
  }
  std::string out;
  out.reserve(64 + type.size() + message.size());
  http::AppendAnthropicErrorJson(type, message, &out);
  return out;
}

absl::Status VertexErrorAnswer::Decode(std::string_view in, bool end, std::string* out) {
  if (body_.size() + in.size() > kMaxBodyBytes) {
    return absl::ResourceExhaustedError(common::StrCat(
        "Vertex AI error body larger than ", kMaxBodyBytes, " bytes (HTTP ", status_, ")"));
  }
  body_.append(in);
  if (end) {
    out->append(TranslateVertexError(status_, body_));
  }
  return absl::OkStatus();
}

}  // namespace ccrelay::providers::vertex
