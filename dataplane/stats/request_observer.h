#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/http/sse_observer.h"

namespace ccrelay::stats {

// One finished client request, as the exchange saw it.
struct RequestRecord {
  std::string request_id;
  std::string provider;         // "" when no attempt was made
  std::string key_fingerprint;  // "" for passthrough / none
  std::string model;
  int status = 0;               // 499 when the client went away
  uint32_t attempts = 0;
  int64_t ttfb_ms = -1;         // time to the first response byte sent to the client
  // Time to the first token: streaming, the first content event forwarded; otherwise the
  // response head of a successful answer. -1 when none (errors, count_tokens).
  int64_t ttft_ms = -1;
  int64_t duration_ms = 0;
  http::Usage usage;
  double cost_usd = 0;          // usage at the provider's price for the model sent upstream
  bool stream = false;
  bool count_tokens = false;
  bool client_gone = false;
  bool upstream_error = false;  // the upstream died mid-stream
  std::string user;             // the relay key's user ("" none)
};

// One failed upstream attempt (it was retried elsewhere or was the last).
struct AttemptRecord {
  std::string provider;
  std::string key_fingerprint;
  std::string reason;  // connect | timeout | reset | status
  int status = 0;      // upstream status for reason "status"
};

// Receives what the data plane does, for stats reports and metrics. Called on worker threads,
// concurrently: implementations synchronise themselves and must be cheap.
class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void OnRequestDone(const RequestRecord& record) = 0;
  virtual void OnAttemptFailed(const AttemptRecord& record) = 0;
  virtual void OnStreamStarted() = 0;
  virtual void OnStreamEnded() = 0;
  // An adapter did not send a beta of the client's to `provider` (its type's table or its
  // policy dropped it), once per upstream attempt. `beta`: a bounded label (betas.h
  // DroppedBetas), not the client's spelling.
  virtual void OnBetaDropped(std::string_view provider, std::string_view beta) {
    (void)provider;
    (void)beta;
  }
  // Route() decided for a request (once per request, before its first attempt): the strategy
  // that ranked and the scenario rule that matched ("" none). Views valid during the call.
  virtual void OnRouted(std::string_view strategy, std::string_view rule) {
    (void)strategy;
    (void)rule;
  }
  // A relay-key user's request was refused by its policy or budget (before routing, or for lack
  // of a route it may use). `reason`: budget | rate_limit | model | policy | disabled.
  virtual void OnUserRefused(std::string_view user, std::string_view reason) {
    (void)user;
    (void)reason;
  }
};

}  // namespace ccrelay::stats
