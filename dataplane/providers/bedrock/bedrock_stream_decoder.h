#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include <boost/beast/http/fields.hpp>

#include "dataplane/providers/bedrock/event_stream.h"
#include "dataplane/providers/provider.h"

namespace ccrelay::providers::bedrock {

// Transcodes a Bedrock InvokeModelWithResponseStream body (application/vnd.amazon.eventstream)
// into Anthropic SSE (protocols.md 3.9):
// - event `chunk`: the payload {"bytes":"<base64>",...} (other keys ignored) holds one Anthropic
//   event JSON. With a string "type" it becomes "event: <type>\ndata: <json>\n\n", the JSON on one
//   line (its CR and LF bytes, necessarily whitespace outside strings, become spaces); without a
//   "type" (a keep-alive) it is dropped; invalid base64 or JSON is an error. Other events are
//   ignored.
// - `exception` frames become "event: error\ndata: {"type":"error","error":{"type":<t>,
//   "message":<payload's message>}}\n\n", t per AnthropicErrorTypeForException (api_error when
//   unknown); `error` frames likewise from :error-code and :error-message, as api_error. The
//   stream is over after either: later bytes are ignored.
// SSE bytes are appended as soon as each frame is complete. Once warm, no allocation per event.
class EventStreamToSse : public ResponseDecoder {
 public:
  // Decoded events up to this size are parsed by a parser kept per thread; a larger one (a
  // PayloadPart decodes to at most 1,000,000 bytes) gets a parser of its own, freed after.
  static constexpr size_t kMaxRetainedParserCapacity = size_t{64} << 10;

  // providers::ResponseDecoder
  std::string_view ContentType() const override { return "text/event-stream"; }
  absl::Status Decode(std::string_view in, bool end, std::string* out) override;

 private:
  absl::Status OnMessage(const EventStreamMessage& message, std::string* out);
  absl::Status OnChunk(std::string_view payload, std::string* out);
  // Appends the error event that ends the stream and stops decoding.
  void EndWithError(std::string_view type, std::string_view message, std::string* out);

  EventStreamDecoder frames_;
  std::string decoded_;    // the current event's JSON, with simdjson's padding after its end
  std::string unescaped_;  // base64 text of a chunk that used JSON escapes (rare)
};

// Translates a small non-streamed Bedrock answer, buffered whole (at most kMaxBodyBytes): an
// error answer (status >= 400) per TranslateBedrockError, or a CountTokens answer per
// TranslateCountTokens. Content-Type application/json.
class BedrockJsonAnswer : public ResponseDecoder {
 public:
  static constexpr size_t kMaxBodyBytes = size_t{1} << 20;

  enum class Kind { kError, kCountTokens };
  // `error_type_header`: the answer's x-amzn-ErrorType ("" if none); used with kError only.
  // `request_id`: Bedrock's x-amzn-RequestId, carried into a translated error ("" = none).
  BedrockJsonAnswer(Kind kind, int status, std::string_view error_type_header,
                    std::string_view request_id = {});

  // providers::ResponseDecoder
  std::string_view ContentType() const override { return "application/json"; }
  absl::Status Decode(std::string_view in, bool end, std::string* out) override;

 private:
  Kind kind_;
  int status_;
  std::string error_type_header_;
  std::string request_id_;
  std::string body_;
};

// The decoder for a Bedrock answer: EventStreamToSse for a 2xx event stream (content-type
// contains application/vnd.amazon.eventstream), the error translator for status >= 400, the
// CountTokens translator for another 2xx answer to `count_tokens`; nullptr otherwise (a 2xx
// InvokeModel body is already Anthropic's Message JSON and passes through).
ResponseDecoderPtr NewBedrockDecoder(int status, const boost::beast::http::fields& headers,
                                     bool count_tokens);

}  // namespace ccrelay::providers::bedrock
