#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ccrelay::http {

// Anthropic's server tools (and the Claude-schema client tools) a request declares in "tools",
// by their versioned type ("web_search_20250305" is kWebSearch). Custom tools (no type, or
// "custom") are only counted.
enum ServerTool : uint32_t {
  kWebSearch = 1u << 0,
  kWebFetch = 1u << 1,
  kCodeExecution = 1u << 2,
  kComputer = 1u << 3,
  kBash = 1u << 4,
  kTextEditor = 1u << 5,
  kMemory = 1u << 6,
  kOtherServerTool = 1u << 31,  // a typed tool not in this list
};

// The ServerTool bit for a tool "type" ("web_search_20250305"), or a short name ("web_search");
// 0 for "custom" and "".
uint32_t ServerToolBit(std::string_view type);

// What routing needs from a Messages / count_tokens request body, found without building a DOM
// (simdjson on-demand). The body itself is never modified here.
struct RequestInfo {
  std::string model;             // decoded value of the top-level "model" string
  size_t model_token_begin = 0;  // byte range [begin, end) of the "model" JSON string token in
  size_t model_token_end = 0;    //   the body, quotes included, for a splice
  size_t model_member_begin = 0;  // where that member's key starts (its opening quote)
  bool has_anthropic_version = false;  // a top-level "anthropic_version" member exists
  bool stream = false;           // top-level "stream": true
  std::string user_id;           // metadata.user_id when it is a string ("" otherwise)
  std::string session_id;        // session id found inside user_id ("" if none): the JSON-string
                                 //   form {"session_id":"..."} or the legacy "..._session_<id>"
  // For routing (RouteRequest): read on the way, without building anything.
  int64_t max_tokens = 0;        // top-level max_tokens when an integer (0 otherwise)
  bool thinking = false;         // top-level "thinking" object whose type is not "disabled"
  uint32_t tool_count = 0;       // elements of a top-level "tools" array
  uint32_t server_tools = 0;     // ServerTool bits of the typed tools in it
};

// Scans a request body. `body` may gain capacity (simdjson needs padding past the end), its bytes
// are unchanged. Only the top-level "model", "stream" and "metadata" are read (and whether
// "anthropic_version" is there); everything else is
// skipped without being materialised, but the whole document is still checked to the end of the
// top-level object. Skipped values are checked structurally only: strings, UTF-8, control
// characters and bracket balance are; the scalars inside them and whether a `[` is closed by `]`
// rather than `}` are not (such a body goes upstream, which rejects it).
// Duplicate keys: the first "model" and "metadata" win, the last "stream" wins (as upstream sees
// it); a "stream" that is not a boolean counts as false.
// Errors (absl::InvalidArgumentError, message suitable for a client):
//   not JSON / not an object / trailing content -> "request body is not valid JSON: ..."
//   "model" missing or not a string     -> "model: field required"
//   "model" empty                       -> "model: must not be empty"
absl::StatusOr<RequestInfo> ScanRequestBody(std::string* body);

// Bytes past the end of a body that a scan may read (simdjson's padding).
inline constexpr size_t kScanPadding = 64;

// The same over a buffer whose `capacity` (>= size + kScanPadding) is readable (BodyBuffer).
absl::StatusOr<RequestInfo> ScanRequestBody(const char* data, size_t size, size_t capacity);

// Whether a body holds an image content block: a structural `"type":"image"` member (JSON
// whitespace allowed around the colon), found by a byte search, not a parse. Inside a JSON
// string every quote is escaped, so text that mentions "type":"image" does not match; a
// document/PDF block does not count. Called only when a rule or strategy asks (it reads the
// whole body once more).
bool BodyHasImage(std::string_view body);

// Extracts the session id from a metadata.user_id value (see RequestInfo::session_id).
std::string SessionIdFromUserId(std::string_view user_id);

// `value` as a JSON string literal, quotes included, escaped per RFC 8259 (", \\ and control
// characters; valid UTF-8 is copied as is, each byte of an ill-formed sequence becomes U+FFFD).
std::string JsonQuote(std::string_view value);

}  // namespace ccrelay::http
