#include "dataplane/providers/bedrock/bedrock_stream_decoder.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include <simdjson.h>

#include "dataplane/common/status_macros.h"
#include "dataplane/common/str.h"
#include "dataplane/http/anthropic_error.h"
#include "dataplane/providers/bedrock/bedrock_errors.h"

namespace ccrelay::providers::bedrock {

namespace {

namespace dom = simdjson::dom;

// ---- base64 (RFC 4648 standard alphabet; the '=' padding may be omitted) ----

constexpr uint32_t kBase64Invalid = 0x100;

constexpr std::array<uint32_t, 256> MakeBase64Table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t& v : table) {
    v = kBase64Invalid;
  }
  for (uint32_t i = 0; i < 26; ++i) {
    table['A' + i] = i;
    table['a' + i] = 26 + i;
  }
  for (uint32_t i = 0; i < 10; ++i) {
    table['0' + i] = 52 + i;
  }
  table['+'] = 62;
  table['/'] = 63;
  return table;
}

constexpr std::array<uint32_t, 256> kBase64 = MakeBase64Table();

// Decodes `in` into `out` (resized to the decoded size, with SIMDJSON_PADDING bytes of capacity
// after it). False on a character outside the alphabet, misplaced padding or a bad length.
bool DecodeBase64(std::string_view in, std::string* out) {
  size_t n = in.size();
  if (n > 0 && in[n - 1] == '=') {
    if (n % 4 != 0) {
      return false;
    }
    --n;
    if (in[n - 1] == '=') {
      --n;
    }
  }
  const size_t rem = n % 4;
  if (rem == 1) {
    return false;
  }
  const size_t out_len = n / 4 * 3 + (rem == 0 ? 0 : rem - 1);
  out->resize(out_len + simdjson::SIMDJSON_PADDING);
  const auto* src = reinterpret_cast<const unsigned char*>(in.data());
  auto* dst = reinterpret_cast<unsigned char*>(out->data());
  uint32_t bad = 0;
  const size_t whole = n - rem;
  for (size_t i = 0; i < whole; i += 4) {
    const uint32_t a = kBase64[src[i]];
    const uint32_t b = kBase64[src[i + 1]];
    const uint32_t c = kBase64[src[i + 2]];
    const uint32_t d = kBase64[src[i + 3]];
    bad |= a | b | c | d;
    const uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
    dst[0] = static_cast<unsigned char>(v >> 16);
    dst[1] = static_cast<unsigned char>(v >> 8);
    dst[2] = static_cast<unsigned char>(v);
    dst += 3;
  }
  if (rem >= 2) {
    const uint32_t a = kBase64[src[whole]];
    const uint32_t b = kBase64[src[whole + 1]];
    const uint32_t c = rem == 3 ? kBase64[src[whole + 2]] : 0;
    bad |= a | b | c;
    const uint32_t v = (a << 18) | (b << 12) | (c << 6);
    dst[0] = static_cast<unsigned char>(v >> 16);
    if (rem == 3) {
      dst[1] = static_cast<unsigned char>(v >> 8);
    }
  }
  out->resize(out_len);
  return (bad & kBase64Invalid) == 0;
}

// ---- the PayloadPart envelope {"bytes":"<base64>", ...} ----

size_t SkipWhitespace(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
    ++i;
  }
  return i;
}

size_t FindByte(std::string_view s, size_t from, size_t to, char c) {
  const void* hit = std::memchr(s.data() + from, c, to - from);
  return hit == nullptr ? std::string_view::npos
                        : static_cast<size_t>(static_cast<const char*>(hit) - s.data());
}

// With s[i] == '"': sets *end just past the closing quote and *escaped when a backslash occurs
// in between. False for an unterminated string. Linear (each byte is looked at by memchr once
// for quotes and once for backslashes).
bool ScanString(std::string_view s, size_t i, size_t* end, bool* escaped) {
  size_t from = i + 1;
  size_t quote = FindByte(s, from, s.size(), '"');
  *escaped = false;
  while (quote != std::string_view::npos) {
    const size_t backslash = FindByte(s, from, quote, '\\');
    if (backslash == std::string_view::npos) {
      *end = quote + 1;
      return true;
    }
    *escaped = true;
    from = backslash + 2;  // past the escaped character
    if (from > quote) {    // it was this quote
      if (from > s.size()) {
        return false;
      }
      quote = FindByte(s, from, s.size(), '"');
    }
  }
  return false;
}

// Skips the JSON value at s[*i] (leniently: brackets are counted, not matched). False when it
// does not end inside `s`.
bool SkipValue(std::string_view s, size_t* i) {
  size_t pos = *i;
  const char first = s[pos];
  if (first == '"') {
    bool escaped = false;
    return ScanString(s, pos, i, &escaped);
  }
  if (first == '{' || first == '[') {
    size_t depth = 0;
    while (pos < s.size()) {
      const char c = s[pos];
      if (c == '"') {
        bool escaped = false;
        if (!ScanString(s, pos, &pos, &escaped)) {
          return false;
        }
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        *i = pos + 1;
        return true;
      }
      ++pos;
    }
    return false;
  }
  const size_t start = pos;
  while (pos < s.size() && s[pos] != ',' && s[pos] != '}' && s[pos] != ']' && s[pos] != ' ' &&
         s[pos] != '\t' && s[pos] != '\n' && s[pos] != '\r') {
    ++pos;
  }
  *i = pos;
  return pos > start;
}

absl::Status EnvelopeError(std::string_view what) {
  return absl::InvalidArgumentError(common::StrCat("event stream chunk: ", what));
}

// The raw text of the top-level "bytes" string of a chunk payload (JSON escapes not processed;
// *escaped tells whether there are any).
absl::Status FindBytesField(std::string_view json, std::string_view* raw, bool* escaped) {
  size_t i = SkipWhitespace(json, 0);
  if (i >= json.size() || json[i] != '{') {
    return EnvelopeError("the payload is not a JSON object");
  }
  i = SkipWhitespace(json, i + 1);
  if (i < json.size() && json[i] == '}') {
    return EnvelopeError("the payload has no \"bytes\"");
  }
  while (i < json.size()) {
    if (json[i] != '"') {
      return EnvelopeError("malformed payload JSON");
    }
    size_t key_end = 0;
    bool key_escaped = false;
    if (!ScanString(json, i, &key_end, &key_escaped)) {
      return EnvelopeError("malformed payload JSON");
    }
    const std::string_view key = json.substr(i + 1, key_end - i - 2);
    i = SkipWhitespace(json, key_end);
    if (i >= json.size() || json[i] != ':') {
      return EnvelopeError("malformed payload JSON");
    }
    i = SkipWhitespace(json, i + 1);
    if (i >= json.size()) {
      return EnvelopeError("malformed payload JSON");
    }
    if (key == "bytes") {
      size_t value_end = 0;
      if (json[i] != '"' || !ScanString(json, i, &value_end, escaped)) {
        return EnvelopeError("\"bytes\" is not a string");
      }
      *raw = json.substr(i + 1, value_end - i - 2);
      return absl::OkStatus();
    }
    if (!SkipValue(json, &i)) {
      return EnvelopeError("malformed payload JSON");
    }
    i = SkipWhitespace(json, i);
    if (i < json.size() && json[i] == ',') {
      i = SkipWhitespace(json, i + 1);
    } else {
      break;
    }
  }
  return EnvelopeError("the payload has no \"bytes\"");
}

// Base64 text with the one JSON escape it can carry ("\/") undone; false on any other escape.
bool UnescapeBase64Text(std::string_view raw, std::string* out) {
  out->clear();
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\') {
      if (i + 1 >= raw.size() || raw[i + 1] != '/') {
        return false;
      }
      ++i;
    }
    out->push_back(raw[i]);
  }
  return true;
}

dom::parser& ThreadParser() {
  thread_local dom::parser parser;
  return parser;
}

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) {
    return false;
  }
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (common::EqualsIgnoreCase(haystack.substr(i, needle.size()), needle)) {
      return true;
    }
  }
  return false;
}

std::string_view HeaderValue(const boost::beast::http::fields& headers, std::string_view name) {
  const auto it = headers.find(boost::beast::string_view(name.data(), name.size()));
  if (it == headers.end()) {
    return {};
  }
  const auto value = it->value();
  return {value.data(), value.size()};
}

}  // namespace

// ---- EventStreamToSse ----

absl::Status EventStreamToSse::Decode(std::string_view in, bool end, std::string* out) {
  RETURN_IF_ERROR(frames_.Feed(
      in, [this, out](const EventStreamMessage& message) { return OnMessage(message, out); }));
  return end ? frames_.Finish() : absl::OkStatus();
}

absl::Status EventStreamToSse::OnMessage(const EventStreamMessage& message, std::string* out) {
  const std::string_view message_type = message.StringHeader(":message-type");
  if (message_type == "event") {
    if (message.StringHeader(":event-type") == "chunk") {
      return OnChunk(message.payload, out);
    }
    return absl::OkStatus();
  }
  if (message_type == "exception") {
    const std::string_view name = message.StringHeader(":exception-type");
    std::string_view type = AnthropicErrorTypeForException(name);
    if (type.empty()) {
      type = "api_error";
    }
    std::string text = BedrockErrorMessage(message.payload);
    if (text.empty()) {
      text = name.empty() ? std::string("Bedrock stream exception") : std::string(name);
    }
    EndWithError(type, text, out);
    return absl::OkStatus();
  }
  if (message_type == "error") {
    std::string_view text = message.StringHeader(":error-message");
    if (text.empty()) {
      text = message.StringHeader(":error-code");
    }
    EndWithError("api_error", text.empty() ? std::string_view("Bedrock stream error") : text, out);
  }
  return absl::OkStatus();
}

absl::Status EventStreamToSse::OnChunk(std::string_view payload, std::string* out) {
  std::string_view base64;
  bool escaped = false;
  RETURN_IF_ERROR(FindBytesField(payload, &base64, &escaped));
  if (escaped) {
    if (!UnescapeBase64Text(base64, &unescaped_)) {
      return EnvelopeError("\"bytes\" is not valid base64");
    }
    base64 = unescaped_;
  }
  if (!DecodeBase64(base64, &decoded_)) {
    return EnvelopeError("\"bytes\" is not valid base64");
  }
  // decoded_ has SIMDJSON_PADDING bytes of capacity past its end: parsed where it is.
  std::unique_ptr<dom::parser> one_off;
  dom::parser* parser = &ThreadParser();
  if (decoded_.size() > kMaxRetainedParserCapacity) {
    one_off = std::make_unique<dom::parser>();
    parser = one_off.get();
  }
  dom::element event;
  if (parser->parse(decoded_.data(), decoded_.size(), /*realloc_if_needed=*/false).get(event) !=
      simdjson::SUCCESS) {
    return EnvelopeError("the decoded event is not valid JSON");
  }
  dom::object object;
  std::string_view type;
  if (event.get_object().get(object) != simdjson::SUCCESS ||
      object["type"].get_string().get(type) != simdjson::SUCCESS) {
    return absl::OkStatus();  // no string "type": a keep-alive
  }
  if (type.find_first_of("\r\n") != std::string_view::npos) {
    return EnvelopeError("the event type contains a line break");
  }
  const size_t data_begin = out->size() + 7 + type.size() + 7;  // "event: " type "\ndata: "
  common::StrAppendPieces(out, {"event: ", type, "\ndata: ", decoded_, "\n\n"});
  // Valid JSON has CR and LF only as whitespace between tokens: spaces keep it on one line.
  // Most events have none, which two vectorised memchr() find out faster than a byte loop.
  if (std::memchr(decoded_.data(), '\n', decoded_.size()) != nullptr ||
      std::memchr(decoded_.data(), '\r', decoded_.size()) != nullptr) {
    char* const data_end = out->data() + out->size() - 2;
    for (char* p = out->data() + data_begin; p < data_end; ++p) {
      if (*p == '\n' || *p == '\r') {
        *p = ' ';
      }
    }
  }
  return absl::OkStatus();
}

void EventStreamToSse::EndWithError(std::string_view type, std::string_view message,
                                    std::string* out) {
  out->append("event: error\ndata: ");
  http::AppendAnthropicErrorJson(type, message, out);
  out->append("\n\n");
  frames_.Stop();
}

// ---- BedrockJsonAnswer ----

BedrockJsonAnswer::BedrockJsonAnswer(Kind kind, int status, std::string_view error_type_header,
                                     std::string_view request_id)
    : kind_(kind),
      status_(status),
      error_type_header_(error_type_header),
      request_id_(request_id) {}

absl::Status BedrockJsonAnswer::Decode(std::string_view in, bool end, std::string* out) {
  if (body_.size() + in.size() > kMaxBodyBytes) {
    return absl::ResourceExhaustedError(common::StrCat(
        "Bedrock answer body larger than ", kMaxBodyBytes, " bytes (HTTP ", status_, ")"));
  }
  body_.append(in);
  if (!end) {
    return absl::OkStatus();
  }
  if (kind_ == Kind::kError) {
    out->append(TranslateBedrockError(status_, error_type_header_, body_, request_id_));
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> translated = TranslateCountTokens(body_);
  if (!translated.ok()) {
    return translated.status();
  }
  out->append(*translated);
  return absl::OkStatus();
}

// ---- the factory ----

ResponseDecoderPtr NewBedrockDecoder(int status, const boost::beast::http::fields& headers,
                                     bool count_tokens) {
  if (status >= 400) {
    return std::make_unique<BedrockJsonAnswer>(BedrockJsonAnswer::Kind::kError, status,
                                               HeaderValue(headers, "x-amzn-ErrorType"),
                                               HeaderValue(headers, "x-amzn-RequestId"));
  }
  if (status < 200 || status >= 300) {
    return nullptr;
  }
  if (ContainsIgnoreCase(HeaderValue(headers, "content-type"),
                         "application/vnd.amazon.eventstream")) {
    return std::make_unique<EventStreamToSse>();
  }
  if (count_tokens) {
    return std::make_unique<BedrockJsonAnswer>(BedrockJsonAnswer::Kind::kCountTokens, status, "");
  }
  return nullptr;
}

}  // namespace ccrelay::providers::bedrock
