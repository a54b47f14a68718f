#include "dataplane/http/request_scan.h"

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include <simdjson.h>

namespace ccrelay::http {

namespace {

namespace od = simdjson::ondemand;

// A parser keeps buffers sized for the largest document it has seen; bodies bigger than this are
// scanned with a one-off parser so that a rare 30 MB request does not pin its buffers per thread.
constexpr size_t kMaxRetainedParserCapacity = size_t{8} << 20;

od::parser& ThreadParser() {
  thread_local od::parser parser;
  return parser;
}

bool IsJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

absl::Status InvalidJson(simdjson::error_code error) {
  return absl::InvalidArgumentError(
      absl::StrCat("request body is not valid JSON: ", simdjson::error_message(error)));
}

// Reads metadata.user_id when it is a string. Errors are returned so that the caller can reject
// a malformed document; a non-object metadata or a non-string user_id is not an error.
simdjson::error_code ReadMetadata(od::value& metadata, std::string* user_id) {
  od::json_type type;
  if (auto error = metadata.type().get(type)) {
    return error;
  }
  if (type != od::json_type::object) {
    return simdjson::SUCCESS;  // skipped (and validated structurally) by the parent iteration
  }
  od::object object;
  if (auto error = metadata.get_object().get(object)) {
    return error;
  }
  bool found = false;
  for (auto field_result : object) {
    od::field field;
    if (auto error = std::move(field_result).get(field)) {
      return error;
    }
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) {
      return error;
    }
    if (found || key != "user_id") {
      continue;
    }
    found = true;  // first user_id wins, like the first model
    od::json_type value_type;
    if (auto error = field.value().type().get(value_type)) {
      return error;
    }
    if (value_type == od::json_type::string) {
      std::string_view value;
      if (auto error = field.value().get_string().get(value)) {
        return error;
      }
      user_id->assign(value);
    }
  }
  return simdjson::SUCCESS;
}

// The string "type" member of `value` when it is an object ("" otherwise: not an object, no
// "type", or one that is not a string). The rest of the object is skipped unread.
simdjson::error_code TypeMember(od::value& value, std::string_view* out) {
  *out = {};
  od::json_type type;
  if (auto error = value.type().get(type)) {
    return error;
  }
  if (type != od::json_type::object) {
    return simdjson::SUCCESS;
  }
  od::object object;
  if (auto error = value.get_object().get(object)) {
    return error;
  }
  for (auto field_result : object) {
    od::field field;
    std::string_view key;
    if (auto error = std::move(field_result).get(field)) {
      return error;
    }
    if (auto error = field.unescaped_key().get(key)) {
      return error;
    }
    if (key == "type" && out->empty()) {
      std::string_view text;
      if (field.value().get_string().get(text) == simdjson::SUCCESS) {
        *out = text;
      }
    }
  }
  return simdjson::SUCCESS;
}

// Counts a top-level "tools" array and the server tools among it (each element's "type").
simdjson::error_code ReadTools(od::value& tools, uint32_t* count, uint32_t* server_tools) {
  od::json_type type;
  if (auto error = tools.type().get(type)) {
    return error;
  }
  if (type != od::json_type::array) {
    return simdjson::SUCCESS;
  }
  od::array array;
  if (auto error = tools.get_array().get(array)) {
    return error;
  }
  for (auto element_result : array) {
    od::value element;
    if (auto error = std::move(element_result).get(element)) {
      return error;
    }
    ++*count;
    std::string_view tool_type;
    if (auto error = TypeMember(element, &tool_type)) {
      return error;
    }
    *server_tools |= ServerToolBit(tool_type);
  }
  return simdjson::SUCCESS;
}

// Outcome of looking at the first top-level "model" field.
enum class ModelState { kMissing, kNotString, kEmpty, kOk };

}  // namespace

absl::StatusOr<RequestInfo> ScanRequestBody(std::string* body) {
  const size_t size = body->size();
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: make them exist and be zero (the
  // string's size and bytes stay the same; only its capacity grows).
  body->append(simdjson::SIMDJSON_PADDING, '\0');
  body->resize(size);
  return ScanRequestBody(body->data(), size, body->capacity());
}

absl::StatusOr<RequestInfo> ScanRequestBody(const char* data, size_t size, size_t capacity) {
  static_assert(kScanPadding >= simdjson::SIMDJSON_PADDING);
  simdjson::padded_string_view input(data, size, capacity);
  const char* const body_begin = data;

  std::unique_ptr<od::parser> one_off;
  od::parser* parser = &ThreadParser();
  if (size > kMaxRetainedParserCapacity) {
    one_off = std::make_unique<od::parser>();
    parser = one_off.get();
  }

  od::document doc;
  if (auto error = parser->iterate(input).get(doc)) {
    return InvalidJson(error);
  }
  od::object root;
  if (auto error = doc.get_object().get(root)) {
    if (error == simdjson::INCORRECT_TYPE) {
      return absl::InvalidArgumentError("request body is not valid JSON: not a JSON object");
    }
    return InvalidJson(error);
  }

  RequestInfo info;
  ModelState model_state = ModelState::kMissing;
  bool user_id_seen = false;
  for (auto field_result : root) {
    od::field field;
    if (auto error = std::move(field_result).get(field)) {
      return InvalidJson(error);
    }
    // The key's raw text starts after its opening quote (read before unescaping consumes it).
    const char* const key_raw = field.key().raw();
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) {
      return InvalidJson(error);
    }
    if (key == "model") {
      if (model_state != ModelState::kMissing) {
        continue;  // first "model" wins; the duplicate is skipped (structurally validated)
      }
      od::json_type type;
      if (auto error = field.value().type().get(type)) {
        return InvalidJson(error);
      }
      if (type != od::json_type::string) {
        model_state = ModelState::kNotString;
        continue;
      }
      std::string_view raw = field.value().raw_json_token();
      std::string_view model;
      if (auto error = field.value().get_string().get(model)) {
        return InvalidJson(error);
      }
      // raw_json_token() runs up to the next token: drop the whitespace after the closing quote.
      while (!raw.empty() && IsJsonWhitespace(raw.back())) {
        raw.remove_suffix(1);
      }
      info.model_token_begin = static_cast<size_t>(raw.data() - body_begin);
      info.model_member_begin = static_cast<size_t>(key_raw - 1 - body_begin);
      info.model_token_end = info.model_token_begin + raw.size();
      info.model.assign(model);
      model_state = model.empty() ? ModelState::kEmpty : ModelState::kOk;
    } else if (key == "stream") {
      // Last "stream" wins, as in the JSON parsers upstream (it decides the response format).
      od::json_type type;
      if (auto error = field.value().type().get(type)) {
        return InvalidJson(error);
      }
      if (type == od::json_type::boolean) {
        bool stream = false;
        if (auto error = field.value().get_bool().get(stream)) {
          return InvalidJson(error);
        }
        info.stream = stream;
      } else {
        info.stream = false;
      }
    } else if (key == "anthropic_version") {
      info.has_anthropic_version = true;
    } else if (key == "max_tokens") {
      int64_t max_tokens = 0;
      if (field.value().get_int64().get(max_tokens) == simdjson::SUCCESS && max_tokens > 0) {
        info.max_tokens = max_tokens;
      }
    } else if (key == "thinking") {
      // On unless its type is "disabled" (or it is not an object with a type).
      std::string_view thinking;
      if (auto error = TypeMember(field.value(), &thinking)) {
        return InvalidJson(error);
      }
      info.thinking = !thinking.empty() && thinking != "disabled";
    } else if (key == "tools") {
      info.tool_count = 0;
      info.server_tools = 0;
      if (auto error = ReadTools(field.value(), &info.tool_count, &info.server_tools)) {
        return InvalidJson(error);
      }
    } else if (key == "metadata") {
      if (user_id_seen) {
        continue;
      }
      user_id_seen = true;
      if (auto error = ReadMetadata(field.value(), &info.user_id)) {
        return InvalidJson(error);
      }
    }
    // Anything else ("messages", "system", "tools", ...) is skipped by the iteration without
    // being materialised.
  }
  // The loop ends after the closing brace of the root object; anything after it is garbage.
  const char* location = nullptr;
  if (doc.current_location().get(location) != simdjson::OUT_OF_BOUNDS) {
    return absl::InvalidArgumentError(
        "request body is not valid JSON: trailing content after the top-level object");
  }

  switch (model_state) {
    case ModelState::kMissing:
    case ModelState::kNotString:
      return absl::InvalidArgumentError("model: field required");
    case ModelState::kEmpty:
      return absl::InvalidArgumentError("model: must not be empty");
    case ModelState::kOk:
      break;
  }
  if (!info.user_id.empty()) {
    info.session_id = SessionIdFromUserId(info.user_id);
  }
  return info;
}

uint32_t ServerToolBit(std::string_view type) {
  if (type.empty() || type == "custom") {
    return 0;
  }
  struct Known {
    std::string_view prefix;
    uint32_t bit;
  };
  static constexpr Known kKnown[] = {
      {"web_search", kWebSearch}, {"web_fetch", kWebFetch}, {"code_execution", kCodeExecution},
      {"computer", kComputer},     {"bash", kBash},          {"text_editor", kTextEditor},
      {"memory", kMemory},
  };
  for (const Known& k : kKnown) {
    if (type.substr(0, k.prefix.size()) == k.prefix) {
      return k.bit;
    }
  }
  return kOtherServerTool;
}

bool BodyHasImage(std::string_view body) {
  constexpr std::string_view kValue = "\"image\"";
  size_t pos = 0;
  while ((pos = body.find(kValue, pos)) != std::string_view::npos) {
    // Walk back over `\s*:\s*"type"` before the value's opening quote.
    size_t i = pos;
    while (i > 0 && IsJsonWhitespace(body[i - 1])) {
      --i;
    }
    if (i > 0 && body[i - 1] == ':') {
      --i;
      while (i > 0 && IsJsonWhitespace(body[i - 1])) {
        --i;
      }
      constexpr std::string_view kKey = "\"type\"";
      if (i >= kKey.size() && body.substr(i - kKey.size(), kKey.size()) == kKey) {
        return true;
      }
    }
    pos += kValue.size();
  }
  return false;
}

std::string SessionIdFromUserId(std::string_view user_id) {
  size_t first = 0;
  while (first < user_id.size() && IsJsonWhitespace(user_id[first])) {
    ++first;
  }
  if (first < user_id.size() && user_id[first] == '{') {
    // JSON-string form: {"device_id":"...","account_uuid":"...","session_id":"..."}. Parsed
    // from a padded copy in a per-thread buffer (a few hundred bytes: no malloc once warm; an
    // odd large one gets a buffer of its own).
    thread_local std::string scratch;
    std::string large;
    std::string& copy = user_id.size() <= 4096 ? scratch : large;
    copy.assign(user_id);
    copy.append(simdjson::SIMDJSON_PADDING, '\0');
    copy.resize(user_id.size());
    const simdjson::padded_string_view padded(copy.data(), copy.size(), copy.capacity());
    od::document doc;
    if (ThreadParser().iterate(padded).get(doc)) {
      return "";
    }
    od::object object;
    if (doc.get_object().get(object)) {
      return "";
    }
    for (auto field_result : object) {
      od::field field;
      std::string_view key;
      if (std::move(field_result).get(field) || field.unescaped_key().get(key)) {
        return "";
      }
      if (key != "session_id") {
        continue;
      }
      std::string_view session;
      if (field.value().get_string().get(session)) {
        return "";
      }
      return std::string(session);
    }
    return "";
  }
  // Legacy form: user_<hash>_account_<uuid>_session_<uuid>.
  constexpr std::string_view kMarker = "_session_";
  const size_t pos = user_id.rfind(kMarker);
  if (pos == std::string_view::npos) {
    return "";
  }
  return std::string(user_id.substr(pos + kMarker.size()));
}

std::string JsonQuote(std::string_view value) {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('"');
  const bool valid_utf8 = simdjson::validate_utf8(value.data(), value.size());
  size_t i = 0;
  while (i < value.size()) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x80 && !valid_utf8) {
      // Copy a well-formed sequence; replace each byte of an ill-formed one with U+FFFD so the
      // result is always valid JSON text.
      size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      if (len > 1 && i + len <= value.size() && simdjson::validate_utf8(value.data() + i, len)) {
        out.append(value.substr(i, len));
        i += len;
      } else {
        out.append("\xEF\xBF\xBD");
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
  return out;
}

}  // namespace ccrelay::http
