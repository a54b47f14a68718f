#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "dataplane/http/sse_observer.h"
#include "dataplane/stats/request_observer.h"

namespace ccrelay::proxy {

// What one exchange did, gathered as it runs and accounted once at its end (Envoy's stream
// info + access log): the `request` log line and the observer's RequestRecord (metrics, stats
// reports to the control plane).
struct RequestTimes {
  std::chrono::steady_clock::time_point start;        // the request's head was read
  std::chrono::steady_clock::time_point first_byte;   // the answer's head went to the client
  std::chrono::steady_clock::time_point first_token;  // the first content event went out (SSE)
  bool have_first_byte = false;
  bool have_first_token = false;
};

struct RequestSummary {
  std::string_view request_id;
  std::string_view connection_id;
  std::string_view provider;  // "" when no attempt was made
  std::string_view key_fingerprint;  // "" for passthrough / none
  std::string_view model;
  std::string_view rule;  // the scenario rule that routed it ("" none)
  std::string_view user;  // the relay key's user ("" none)
  std::string_view user_key_fingerprint;
  int status = 0;  // what the client got (499 is set here when it went away)
  uint32_t attempts = 0;
  http::Usage usage;
  double cost_usd = 0;
  bool stream = false;
  bool sse = false;  // the answer was an SSE stream
  bool count_tokens = false;
  bool client_gone = false;
  bool upstream_error = false;
};

// Logs the `request` line and reports the record to `observer` (may be null).
void RecordRequest(const RequestSummary& summary, const RequestTimes& times,
                   stats::RequestObserver* observer);

}  // namespace ccrelay::proxy
