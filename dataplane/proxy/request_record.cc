#include "dataplane/proxy/request_record.h"

#include "dataplane/common/log.h"

namespace ccrelay::proxy {

namespace {

int64_t MsBetween(std::chrono::steady_clock::time_point from,
                  std::chrono::steady_clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

std::string_view OrDash(std::string_view s) { return s.empty() ? std::string_view("-") : s; }

}  // namespace

void RecordRequest(const RequestSummary& s, const RequestTimes& times,
                   stats::RequestObserver* observer) {
  const auto now = std::chrono::steady_clock::now();
  const int64_t ttfb = times.have_first_byte ? MsBetween(times.start, times.first_byte) : -1;
  // Time to the first token: the first content event (streaming), else the head of a successful
  // answer (a non-streaming body carries every token at once).
  int64_t ttft = -1;
  if (times.have_first_token) {
    ttft = MsBetween(times.start, times.first_token);
  } else if (!s.sse && !s.count_tokens && s.status >= 200 && s.status < 300) {
    ttft = ttfb;
  }
  const int status = s.client_gone ? 499 : s.status;
  const int64_t duration = MsBetween(times.start, now);
  CCR_LOG(kInfo, "request", common::F("request_id", s.request_id),
          common::F("conn", s.connection_id),
          common::F("endpoint", s.count_tokens ? "count_tokens" : "messages"),
          common::F("provider", OrDash(s.provider)), common::F("key", OrDash(s.key_fingerprint)),
          common::Q("model", s.model), common::F("rule", OrDash(s.rule)),
          common::F("user", OrDash(s.user)), common::F("user_key", OrDash(s.user_key_fingerprint)),
          common::F("stream", s.stream), common::F("status", status),
          common::F("attempts", s.attempts), common::F("ttfb_ms", ttfb),
          common::F("ttft_ms", ttft), common::F("duration_ms", duration),
          common::F("input_tokens", s.usage.input_tokens),
          common::F("output_tokens", s.usage.output_tokens),
          common::F("cache_read_tokens", s.usage.cache_read_input_tokens),
          common::F("cache_creation_tokens", s.usage.cache_creation_input_tokens),
          common::F("upstream_error", s.upstream_error), common::F("client_gone", s.client_gone));
  if (observer == nullptr) {
    return;
  }
  // One record per thread, reused: its strings keep their capacity (no malloc per request).
  // Every field is assigned below.
  thread_local stats::RequestRecord rec;
  rec.request_id = s.request_id;
  rec.provider = s.provider;
  rec.key_fingerprint = s.key_fingerprint;
  rec.model = s.model;
  rec.status = status;
  rec.attempts = s.attempts;
  rec.ttfb_ms = ttfb;
  rec.ttft_ms = ttft;
  rec.cost_usd = s.cost_usd;
  rec.duration_ms = duration;
  rec.usage = s.usage;
  rec.stream = s.stream;
  rec.count_tokens = s.count_tokens;
  rec.client_gone = s.client_gone;
  rec.upstream_error = s.upstream_error;
  rec.user = s.user;
  observer->OnRequestDone(rec);
}

}  // namespace ccrelay::proxy
