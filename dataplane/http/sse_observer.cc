#include "dataplane/http/sse_observer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <simdjson.h>

namespace ccrelay::http {

namespace {

namespace od = simdjson::ondemand;

// Buffers that grew past this for one odd event are released instead of kept for the stream.
constexpr size_t kRetainedBufferCapacity = size_t{64} << 10;
// Enough bytes of a line to know its field: "event:" is the longest name we care about.
constexpr size_t kClassifyBytes = 6;
// Message bodies larger than this are parsed with a one-off parser (see request_scan.cc).
constexpr size_t kMaxRetainedParserCapacity = size_t{8} << 20;

od::parser& ThreadParser() {
  thread_local od::parser parser;
  return parser;
}

enum class LineKind { kUndecided, kEvent, kData, kOther };

// The kind of a line from its first bytes (a prefix of the whole line).
LineKind Classify(std::string_view prefix) {
  if (prefix.empty()) {
    return LineKind::kUndecided;
  }
  if (prefix[0] == ':') {
    return LineKind::kOther;  // comment
  }
  const size_t colon = prefix.find(':');
  if (colon == std::string_view::npos) {
    // "event" / "data" without a colon are fields too (empty value): undecided while that short.
    return prefix.size() > 5 ? LineKind::kOther : LineKind::kUndecided;
  }
  const std::string_view field = prefix.substr(0, colon);
  if (field == "event") {
    return LineKind::kEvent;
  }
  if (field == "data") {
    return LineKind::kData;
  }
  return LineKind::kOther;
}

bool IsKeptEvent(std::string_view name) {
  return name == "message_start" || name == "message_delta" || name == "error";
}

void ReleaseIfLarge(std::string* buffer) {
  buffer->clear();
  if (buffer->capacity() > kRetainedBufferCapacity) {
    buffer->shrink_to_fit();
  }
}

// Names of the usage fields in an object, in the order input, output, cache creation (write),
// cache read.
using UsageKeys = std::array<std::string_view, 4>;
constexpr UsageKeys kAnthropicUsageKeys = {
    "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"};
// Bedrock's `amazon-bedrock-invocationMetrics` on message_stop (protocols.md 3.9).
constexpr UsageKeys kBedrockMetricsKeys = {"inputTokenCount", "outputTokenCount",
                                           "cacheWriteInputTokenCount", "cacheReadInputTokenCount"};

// Overwrites each usage field the object carries as an integer (null or absent: untouched).
simdjson::error_code ReadUsage(simdjson::simdjson_result<od::value> usage_result, Usage* usage,
                               const UsageKeys& keys = kAnthropicUsageKeys) {
  od::object object;
  if (auto error = usage_result.get_object().get(object)) {
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
    int64_t* slot = nullptr;
    if (key == keys[0]) {
      slot = &usage->input_tokens;
    } else if (key == keys[1]) {
      slot = &usage->output_tokens;
    } else if (key == keys[2]) {
      slot = &usage->cache_creation_input_tokens;
    } else if (key == keys[3]) {
      slot = &usage->cache_read_input_tokens;
    } else {
      continue;
    }
    od::json_type type;
    if (auto error = field.value().type().get(type)) {
      return error;
    }
    if (type != od::json_type::number) {
      continue;
    }
    int64_t n = 0;
    if (field.value().get_int64().get(n) == simdjson::SUCCESS) {
      *slot = n;
    }
  }
  return simdjson::SUCCESS;
}

// Sets each field of `to` still missing (-1) that `from` has.
void FillMissing(const Usage& from, Usage* to) {
  for (auto field : {&Usage::input_tokens, &Usage::output_tokens,
                     &Usage::cache_creation_input_tokens, &Usage::cache_read_input_tokens}) {
    if (to->*field < 0) {
      to->*field = from.*field;
    }
  }
}

// Parses `json` in place (it gains zeroed padding capacity; its bytes are unchanged).
simdjson::simdjson_result<od::document> IterateInPlace(std::string* json) {
  const size_t size = json->size();
  json->append(simdjson::SIMDJSON_PADDING, '\0');
  json->resize(size);
  return ThreadParser().iterate(simdjson::padded_string_view(json->data(), size, json->capacity()));
}

}  // namespace

void SseObserver::Feed(std::string_view bytes) {
  size_t i = 0;
  const size_t n = bytes.size();
  if (n == 0) {
    return;
  }
  if (last_was_cr_) {
    last_was_cr_ = false;
    if (bytes[0] == '\n') {
      i = 1;  // the \n of a CRLF split across two chunks
    }
  }
  while (i < n) {
    size_t j = i;
    while (j < n && bytes[j] != '\n' && bytes[j] != '\r') {
      ++j;
    }
    if (j == n) {
      AppendPartial(bytes.substr(i));
      return;
    }
    const std::string_view segment = bytes.substr(i, j - i);
    if (line_len_ == 0) {
      OnLine(segment, false);  // the whole line is in this chunk: no copy
    } else {
      AppendPartial(segment);
      OnLine(line_, line_truncated_);
      ReleaseIfLarge(&line_);
      line_len_ = 0;
      line_truncated_ = false;
    }
    if (bytes[j] == '\r') {
      if (j + 1 < n) {
        if (bytes[j + 1] == '\n') {
          ++j;
        }
      } else {
        last_was_cr_ = true;
      }
    }
    i = j + 1;
  }
}

void SseObserver::AppendPartial(std::string_view bytes) {
  if (bytes.empty()) {
    return;
  }
  at_boundary_ = false;
  line_len_ += bytes.size();
  if (line_truncated_) {
    return;
  }
  // Keep a few bytes to learn what kind of line this is, then only what matters of it.
  if (line_.size() < kClassifyBytes) {
    const size_t take = std::min(kClassifyBytes - line_.size(), bytes.size());
    line_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
  }
  size_t limit = 0;
  switch (Classify(line_)) {
    case LineKind::kUndecided:
      return;  // all of `bytes` fitted in the classification prefix
    case LineKind::kEvent:
      limit = kMaxEventLine;
      break;
    case LineKind::kData:
      // "data: " plus at most the event's data cap; anything longer overflows the event anyway.
      limit = WantData() && !data_overflow_ ? kMaxEventData + kClassifyBytes : 0;
      break;
    case LineKind::kOther:
      limit = 0;
      break;
  }
  if (line_.size() + bytes.size() > limit) {
    line_truncated_ = true;
    if (line_.size() < limit) {
      line_.append(bytes.substr(0, limit - line_.size()));
    }
    return;
  }
  line_.append(bytes);
}

void SseObserver::OnLine(std::string_view line, bool truncated) {
  if (line.empty()) {
    if (event_has_field_) {
      DispatchEvent();
    }
    ResetEvent();
    at_boundary_ = true;
    return;
  }
  at_boundary_ = false;
  if (line[0] == ':') {
    return;  // comment
  }
  event_has_field_ = true;
  std::string_view field = line;
  std::string_view value;
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') {
      value.remove_prefix(1);
    }
  }
  if (field == "event") {
    event_named_ = true;
    // A truncated name is longer than kMaxEventLine: never one we keep or track.
    event_name_.assign(truncated ? std::string_view() : value);
    keep_data_ = !truncated &&
                 (IsKeptEvent(event_name_) || (event_name_ == "message_stop" && UsageIncomplete()));
    if (!keep_data_) {
      ReleaseIfLarge(&data_);
    }
  } else if (field == "data") {
    if (!WantData() || data_overflow_) {
      return;
    }
    const size_t needed = value.size() + (data_started_ ? 1 : 0);
    if (truncated || data_.size() + needed > kMaxEventData) {
      data_overflow_ = true;
      ReleaseIfLarge(&data_);
      return;
    }
    if (data_started_) {
      data_.push_back('\n');
    }
    data_.append(value);
    data_started_ = true;
  }
  // Other fields (id, retry, unknown ones) only make the event count.
}

void SseObserver::DispatchEvent() {
  ++events_;
  if (event_name_ == "message_stop") {
    saw_message_stop_ = true;
    if (keep_data_ && !data_overflow_ && !data_.empty()) {
      FillUsageFromMessageStop();
    }
    return;
  }
  if (!saw_content_ && event_name_ == "content_block_delta") {
    saw_content_ = true;
    return;
  }
  if (!IsKeptEvent(event_name_)) {
    return;
  }
  if (event_name_ == "message_start") {
    saw_message_start_ = true;
  } else if (event_name_ == "error") {
    saw_error_ = true;
  }
  if (data_overflow_ || data_.empty()) {
    return;
  }
  od::document doc;
  if (IterateInPlace(&data_).get(doc) != simdjson::SUCCESS) {
    return;
  }
  od::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) {
    return;
  }
  if (event_name_ == "message_start") {
    // Fields are overwritten as they are read; a malformed tail leaves what was read before it.
    (void)ReadUsage(root.find_field_unordered("message").find_field_unordered("usage"), &usage_);
  } else if (event_name_ == "message_delta") {
    (void)ReadUsage(root.find_field_unordered("usage"), &usage_);
  } else {
    std::string_view type;
    if (root.find_field_unordered("error").find_field_unordered("type").get_string().get(type) ==
        simdjson::SUCCESS) {
      error_type_.assign(type);
    }
  }
}

void SseObserver::FillUsageFromMessageStop() {
  od::document doc;
  if (IterateInPlace(&data_).get(doc) != simdjson::SUCCESS) {
    return;
  }
  od::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) {
    return;
  }
  Usage stop;
  (void)ReadUsage(root.find_field_unordered("usage"), &stop);
  FillMissing(stop, &usage_);
  if (!UsageIncomplete()) {
    return;
  }
  Usage metrics;
  (void)ReadUsage(root.find_field_unordered("amazon-bedrock-invocationMetrics"), &metrics,
                  kBedrockMetricsKeys);
  FillMissing(metrics, &usage_);
}

void SseObserver::ResetEvent() {
  event_name_.clear();
  ReleaseIfLarge(&data_);
  event_has_field_ = false;
  event_named_ = false;
  keep_data_ = false;
  data_overflow_ = false;
  data_started_ = false;
}

bool SseObserver::AtEventBoundary() const { return at_boundary_; }

Usage UsageFromMessageBody(std::string_view body) {
  // The view has no padding of its own, so the body is copied once into a padded buffer.
  std::string padded;
  padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  padded.assign(body);
  return UsageFromMessageBody(&padded);
}

Usage UsageFromMessageBody(std::string* body) {
  Usage usage;
  const size_t size = body->size();
  body->append(simdjson::SIMDJSON_PADDING, '\0');
  body->resize(size);
  const simdjson::padded_string_view padded(body->data(), size, body->capacity());
  // Like the request scan: an unusually large body gets a parser of its own, freed after.
  std::unique_ptr<od::parser> one_off;
  od::parser* parser = &ThreadParser();
  if (size > kMaxRetainedParserCapacity) {
    one_off = std::make_unique<od::parser>();
    parser = one_off.get();
  }
  od::document doc;
  if (parser->iterate(padded).get(doc) != simdjson::SUCCESS) {
    return usage;
  }
  od::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) {
    return usage;
  }
  Usage read;
  if (ReadUsage(root.find_field_unordered("usage"), &read) == simdjson::SUCCESS) {
    usage = read;
  }
  return usage;
}

}  // namespace ccrelay::http
