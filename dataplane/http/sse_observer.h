#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ccrelay::http {

// Token usage as Anthropic reports it (any field may be missing: -1).
struct Usage {
  int64_t input_tokens = -1;
  int64_t output_tokens = -1;
  int64_t cache_creation_input_tokens = -1;
  int64_t cache_read_input_tokens = -1;
};

// Watches an SSE byte stream on the side while the bytes themselves are forwarded untouched.
// Feed() takes arbitrary chunks (an event may be split anywhere, CRLF or LF line endings). It
// keeps only what it needs: the data of message_start / message_delta / error events (capped),
// nothing of content deltas, so memory stays bounded whatever the stream's size.
class SseObserver {
 public:
  void Feed(std::string_view bytes);

  // True when every byte fed so far ends at an event boundary (after the blank line), or nothing
  // was fed. The relay uses it to close a half-sent event before writing its own error event.
  bool AtEventBoundary() const;
  // Number of complete events seen (blank-line terminated, with at least one field).
  size_t events() const { return events_; }
  bool saw_message_start() const { return saw_message_start_; }
  bool saw_message_stop() const { return saw_message_stop_; }
  // A content_block_delta event was complete: the first token (text, thinking or tool input),
  // for the time-to-first-token metric.
  bool saw_content() const { return saw_content_; }
  bool saw_error() const { return saw_error_; }
  // Usage per protocols.md 1.6: message_start.message.usage, then each message_delta.usage
  // overwrites the fields it carries (cumulative values, never summed). Fields still missing at
  // message_stop are filled from its `usage`, else from its `amazon-bedrock-invocationMetrics`
  // (protocols.md 3.9); its data is kept and parsed only when a field is missing.
  const Usage& usage() const { return usage_; }
  // error.type of an `event: error` seen in the stream ("" if none).
  const std::string& error_type() const { return error_type_; }
  // Bytes currently held (partial line + kept data): bounded by about two data caps.
  size_t BufferedBytesForTest() const { return line_.size() + data_.size(); }

 private:
  // Largest data kept for one interesting event; beyond it the event's data is dropped (its
  // usage or error type is then unknown) and memory stays bounded.
  static constexpr size_t kMaxEventData = size_t{1} << 20;
  // Largest `event:` line kept (a longer one cannot name an event we care about).
  static constexpr size_t kMaxEventLine = 256;

  void AppendPartial(std::string_view bytes);
  // `truncated`: the line was longer than what was kept of it (line_ holds a prefix).
  void OnLine(std::string_view line, bool truncated);
  void DispatchEvent();
  // Fills the usage fields still missing from the message_stop event's data.
  void FillUsageFromMessageStop();
  bool UsageIncomplete() const {
    return usage_.input_tokens < 0 || usage_.output_tokens < 0 ||
           usage_.cache_creation_input_tokens < 0 || usage_.cache_read_input_tokens < 0;
  }
  void ResetEvent();
  // Whether data lines of the current event must be kept (interesting event, or no name yet).
  bool WantData() const { return keep_data_ || !event_named_; }

  std::string line_;     // partial line carried between Feed() calls (capped)
  size_t line_len_ = 0;  // bytes of the partial line so far, kept or not
  bool line_truncated_ = false;
  std::string event_name_;
  std::string data_;  // data of the current event, kept only for interesting events
  bool event_has_field_ = false;
  bool event_named_ = false;  // an `event:` line was seen in the current event
  bool keep_data_ = false;
  bool data_overflow_ = false;  // the current event's data went past kMaxEventData
  bool data_started_ = false;   // a data line was seen in the current event (for the \n joins)
  bool at_boundary_ = true;
  bool last_was_cr_ = false;
  size_t events_ = 0;
  bool saw_message_start_ = false;
  bool saw_message_stop_ = false;
  bool saw_content_ = false;
  bool saw_error_ = false;
  Usage usage_;
  std::string error_type_;
};

// Usage from a non-streaming Message JSON body (top-level "usage" object); fields missing: -1.
Usage UsageFromMessageBody(std::string_view body);
// The same, parsing in place: `body` gets simdjson's padding in its capacity (its size and bytes
// stay), so nothing is copied.
Usage UsageFromMessageBody(std::string* body);

}  // namespace ccrelay::http
