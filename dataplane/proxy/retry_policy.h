#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/providers/provider.h"
#include "dataplane/routing/candidate_picker.h"
#include "dataplane/upstream/upstream_request.h"

namespace ccrelay::proxy {

// The attempt that failed last, returned to the client when no candidate is left: an answer
// verbatim (its status, headers and body), or a relay error for a transport failure.
struct LastFailure {
  enum class Kind : uint8_t { kNone, kConnect, kTimeout, kReset, kStatus };
  Kind kind = Kind::kNone;
  std::string detail;        // "status 503", "connect: Connection refused", ...
  int status = 0;            // kStatus
  std::string reason;        // kStatus: the answer's reason phrase
  std::string header_lines;  // kStatus: the answer's headers (filtered) plus the relay's own
  std::string body;          // kStatus: the answer's body (capped)
};

// When and how an exchange tries again (Envoy's RetryState): the attempt budget (max_attempts,
// total deadline), which answers are retried (the adapter's verdict), what the next pick
// avoids after each kind of failure, the one reconnect after a stale pooled connection, and the
// last failure kept for the client. Nothing is retried once a byte went to the client: the
// exchange never asks after that.
class RetryPolicy {
 public:
  using After = routing::CandidatePicker::After;
  // The error body kept of a retried answer, at most.
  static constexpr size_t kMaxKeptBodyBytes = size_t{1} << 20;

  RetryPolicy(uint32_t max_attempts, std::chrono::steady_clock::time_point deadline)
      : max_attempts_(max_attempts), deadline_(deadline) {}

  // A new attempt goes upstream (not a reconnect).
  void OnAttempt() {
    ++attempts_;
    reconnected_ = false;
  }
  uint32_t attempts() const { return attempts_; }
  // Whether another attempt may start (attempts left and the total deadline not passed).
  bool CanRetry(std::chrono::steady_clock::time_point now) const {
    return attempts_ < max_attempts_ && now < deadline_;
  }
  // What the next pick avoids after an answer of this class: another key after a key problem,
  // another provider after a server error, a backoff before revisiting after an overload.
  static After AfterAnswer(providers::AnswerClass answer);
  // Whether a failed attempt is repeated at once, on a fresh connection to the same candidate,
  // without counting as an attempt: a pooled connection the upstream had closed while it sat in
  // the pool (once per attempt, and never after a timeout).
  bool ReconnectAfter(const upstream::UpstreamFailure& failure);

  // Keeping the last failure.
  void RecordTransportFailure(const upstream::UpstreamFailure& failure);
  // An answer that is being retried: its status and header lines now, its body as it is read.
  void RecordAnswer(int status, std::string_view reason, std::string header_lines);
  void AppendAnswerBody(std::string_view bytes);
  // The kept body in the client's format (the adapter decoded it).
  void ReplaceAnswerBody(std::string body) { last_.body = std::move(body); }
  const LastFailure& last() const { return last_; }
  // Frees what was kept (the answer started: no failure will be returned any more).
  void ForgetLast() { last_ = LastFailure(); }

 private:
  uint32_t max_attempts_;
  std::chrono::steady_clock::time_point deadline_;
  uint32_t attempts_ = 0;
  bool reconnected_ = false;
  LastFailure last_;
};

}  // namespace ccrelay::proxy
