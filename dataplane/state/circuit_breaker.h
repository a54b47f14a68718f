#pragma once

#include <array>
#include <chrono>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "dataplane/common/clock.h"

namespace ccrelay::state {

// Circuit breaker settings (config `health.circuit_breaker`). The routing table holds them; the
// breakers themselves live in the per-key / per-provider state and take them on every call, so a
// reload changes the settings without losing the breaker's history.
struct BreakerConfig {
  // Consecutive failures that open the breaker.
  uint32_t failure_threshold = 5;
  // Failure ratio over `window` that opens it, once the window holds at least `min_requests`.
  double failure_ratio = 0.5;
  uint32_t min_requests = 10;
  std::chrono::milliseconds window{30000};
  // How long it stays open before letting probes through (half-open).
  std::chrono::milliseconds open{30000};
  // Probe requests in flight at once while half-open.
  uint32_t half_open_probes = 1;
};

// A circuit breaker (closed -> open -> half-open -> closed or open again) for one provider or
// one key. A tiny mutex per breaker: one breaker's lock never blocks another's.
//
// - Closed: every request passes. A failure is counted; `failure_threshold` consecutive
//   failures, or a failure ratio >= `failure_ratio` over the last `window` with at least
//   `min_requests` outcomes, open it.
// - Open: nothing passes until `open` has elapsed; then it is half-open.
// - Half-open: up to `half_open_probes` requests in flight pass (probes). A probe that succeeds
//   closes it (history cleared); one that fails opens it again for another `open`.
// Outcomes of requests that were not probes are ignored while open or half-open (they started
// before the breaker opened).
class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };
  // How a request got through: kForced is decided by the caller (every candidate's breaker was
  // open, so the least recently opened one is tried anyway), not granted by TryAcquire.
  enum class Admission { kDenied, kAllowed, kProbe, kForced };
  // What an outcome did to the breaker, for logging.
  enum class Transition { kNone, kOpened, kClosed, kReopened };

  // Whether TryAcquire would admit a request now (no side effect).
  bool WouldAdmit(const BreakerConfig& config, common::MonoTime now) const;
  // Admits a request: kAllowed when closed, kProbe when half-open with a probe slot free (the
  // caller must later Record() the probe's outcome or ReleaseProbe()), kDenied otherwise.
  Admission TryAcquire(const BreakerConfig& config, common::MonoTime now);
  // The outcome of an admitted request. A probe's or a forced request's success closes an open
  // breaker and its failure restarts `open`; a plain (kAllowed) request's outcome only counts
  // while the breaker is closed.
  Transition Record(const BreakerConfig& config, bool success, Admission how, common::MonoTime now);
  // A probe ended without an outcome that says anything about health (client gone, a 429).
  void ReleaseProbe();

  State state(const BreakerConfig& config, common::MonoTime now) const;
  // When it last opened (meaningful while open or half-open).
  common::MonoTime opened_at() const;

 private:
  static constexpr size_t kSlots = 10;  // the window is kept as 10 slots of window/10
  struct Slot {
    int64_t index = -1;  // slot number (time / slot width) the counts belong to
    uint32_t successes = 0;
    uint32_t failures = 0;
  };

  State StateLocked(const BreakerConfig& config, common::MonoTime now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Open(common::MonoTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Close() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Count(const BreakerConfig& config, bool success, common::MonoTime now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WindowTotals(const BreakerConfig& config, common::MonoTime now, uint32_t* successes,
                    uint32_t* failures) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;  // open or half-open (by time)
  common::MonoTime opened_at_ ABSL_GUARDED_BY(mu_){};
  uint32_t consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t probes_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::array<Slot, kSlots> slots_ ABSL_GUARDED_BY(mu_){};
};

}  // namespace ccrelay::state
