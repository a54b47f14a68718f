#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "dataplane/common/clock.h"
#include "dataplane/state/circuit_breaker.h"
#include "dataplane/state/latency_tracker.h"
#include "dataplane/state/token_bucket.h"
#include "dataplane/state/upstream_limits.h"

namespace ccrelay::state {

// The per-minute limits a data plane enforces for one key (0 = unlimited). These are the
// snapshot's values: once the control plane divides a key's limits among several data planes,
// the snapshot it sends each one carries that data plane's share.
struct KeyLimits {
  uint32_t rpm = 0;
  uint32_t tpm = 0;   // input + output tokens
  uint32_t itpm = 0;  // input tokens
  uint32_t otpm = 0;  // output tokens

  bool operator==(const KeyLimits&) const = default;
};

// What one request will cost a key before it is sent.
struct RequestCost {
  // Counts against rpm and the token buckets (count_tokens requests do not).
  bool metered = true;
  // Estimated input tokens (corrected later with the real usage).
  int64_t input_tokens = 0;
};

// Whether a key can take a request now.
struct KeyCheck {
  enum class Verdict {
    kOk,        // has headroom
    kLow,       // has headroom, but upstream said it is running low: prefer other keys
    kLimited,   // no headroom until `available_at` (buckets, cooldown, upstream exhaustion)
    kDisabled,  // taken out after the upstream rejected it (401/403)
  };
  Verdict verdict = Verdict::kOk;
  common::MonoTime available_at{};

  bool has_headroom() const { return verdict == Verdict::kOk || verdict == Verdict::kLow; }
};

// A read-only view for stats and management.
struct KeyStatus {
  std::string state;  // active | low | rate_limited | cooling | auth_failed | circuit_open
  int64_t available_in_ms = 0;      // rate_limited / cooling: until headroom returns
  std::string disabled_reason;      // auth_failed: why
  int64_t disabled_at_unix_ms = 0;  // auth_failed: when
  KeyLimits limits;
  double rpm_available = -1;  // -1: unlimited
  double tpm_available = -1;
  double itpm_available = -1;
  double otpm_available = -1;
  uint64_t requests = 0;
  uint64_t failures = 0;
};

// Mutable state of one key: token buckets, upstream-learned limits, cooldown, auth failure and
// circuit breaker. Lives outside the immutable routing table, keyed by the key's stable id, so a
// reload keeps it. One small mutex per key guards the buckets and learned times (held for a few
// arithmetic operations; one key's lock never blocks another key); counters are atomics.
class KeyState {
 public:
  using Duration = std::chrono::nanoseconds;

  // Longest a standard anthropic-ratelimit-*-reset is believed (they are per-minute limits; a
  // bogus far-future reset must not take a key out for long).
  static constexpr Duration kMaxStandardReset = std::chrono::minutes(5);
  // Longest a subscription (unified) window is believed exhausted or in warning.
  static constexpr Duration kMaxUnifiedReset = std::chrono::hours(24 * 8);
  // allowed_warning without a reset time: prefer other keys for this long.
  static constexpr Duration kWarningWithoutReset = std::chrono::minutes(5);
  // Longest a retry-after is honoured.
  static constexpr Duration kMaxRetryAfter = std::chrono::hours(24 * 8);

  // Snapshot compile: the limits to enforce.
  void SetLimits(const KeyLimits& limits, common::MonoTime now);
  KeyLimits limits() const;

  // Headroom for `cost` now, without taking anything.
  KeyCheck Check(const RequestCost& cost, common::MonoTime now);
  // Same, and when there is headroom, takes one request and the estimated input tokens.
  KeyCheck TryAcquire(const RequestCost& cost, common::MonoTime now);
  // A reservation that was never used (the request was not sent): the request and its estimate
  // go back.
  void GiveBack(const RequestCost& cost, common::MonoTime now);
  // Input tokens: `delta` more (or, negative, fewer) than what was taken so far.
  void AdjustInput(int64_t delta, common::MonoTime now);
  // Output tokens reported by the upstream (`delta` more than charged so far).
  void ChargeOutput(int64_t delta, common::MonoTime now);

  // Every upstream response: anthropic-ratelimit-* steer selection before the key runs out
  // (remaining 0 until reset: no headroom; under 10% left: kLow; unified rejected: no headroom
  // until its reset; allowed_warning: kLow). Responses without such headers change nothing.
  void Learn(const UpstreamLimits& limits, const common::Clock& clock, Duration fallback);
  // A 429: learns, then cools the key until retry-after, else until the exhausted family's reset,
  // else for `fallback`. Returns when the key will have headroom again.
  common::MonoTime OnRateLimited(const UpstreamLimits& limits, const common::Clock& clock,
                                 Duration fallback);

  // 401/403: takes the key out (state auth_failed). True only for the call that disabled it.
  bool Disable(std::string_view reason, int64_t unix_ms);
  // Puts a disabled key back (management, a later health check).
  void Enable();
  // The control plane's health check found the key good at `unix_ms`: a key disabled before then
  // is put back (the problem was fixed upstream). True when it was.
  bool EnableIfDisabledBefore(int64_t unix_ms);
  bool disabled() const { return disabled_.load(std::memory_order_acquire); }

  // Share of this key's capacity usable at `now`, as last seen by a check or an upstream answer,
  // read without the lock (least-busy weighs providers by it): 0 disabled or without headroom
  // (buckets, cooldown, upstream exhaustion) until the time then known, 0.5 running low, else 1.
  double Headroom(common::MonoTime now) const;

  CircuitBreaker& breaker() { return breaker_; }
  const CircuitBreaker& breaker() const { return breaker_; }

  KeyStatus Status(const BreakerConfig& breaker_config, common::MonoTime now);

  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> failures{0};

 private:
  KeyCheck CheckLocked(const RequestCost& cost, common::MonoTime now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LearnLocked(const UpstreamLimits& limits, const common::Clock& clock, Duration fallback)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Publishes what Headroom() reads: no headroom until `limited_until`, low until `low_until`.
  void Publish(common::MonoTime limited_until, common::MonoTime low_until);

  mutable absl::Mutex mu_;
  KeyLimits limits_ ABSL_GUARDED_BY(mu_);
  TokenBucket rpm_ ABSL_GUARDED_BY(mu_);
  TokenBucket tpm_ ABSL_GUARDED_BY(mu_);
  TokenBucket itpm_ ABSL_GUARDED_BY(mu_);
  TokenBucket otpm_ ABSL_GUARDED_BY(mu_);
  common::MonoTime cooldown_until_ ABSL_GUARDED_BY(mu_){};
  // From standard headers: a family at remaining 0 (blocked) or under 10% (low), until reset.
  common::MonoTime blocked_until_ ABSL_GUARDED_BY(mu_){};
  common::MonoTime low_until_ ABSL_GUARDED_BY(mu_){};
  // From unified (subscription) headers.
  common::MonoTime unified_blocked_until_ ABSL_GUARDED_BY(mu_){};
  common::MonoTime unified_low_until_ ABSL_GUARDED_BY(mu_){};
  std::string disabled_reason_ ABSL_GUARDED_BY(mu_);
  int64_t disabled_at_unix_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> disabled_{false};
  // Headroom()'s view, in steady-clock nanoseconds since the epoch (0: none).
  std::atomic<int64_t> limited_until_ns_{0};
  std::atomic<int64_t> low_until_ns_{0};
  CircuitBreaker breaker_;
};

// Mutable per-provider state: the key-spreading cursor, counters, the provider's breaker.
struct ProviderState {
  std::atomic<uint64_t> key_cursor{0};
  std::atomic<uint64_t> requests{0};
  // Attempts sent to the provider and not finished (their answer's end, a failure or the client
  // gone): least-busy ranks by it. Held by InFlight.
  std::atomic<int64_t> in_flight{0};
  CircuitBreaker breaker;
  // Time to first token and output speed per model (latency-based ranks by it).
  LatencyTracker latency;
};

// One attempt counted in a provider's in_flight for as long as it lives (movable, RAII).
class InFlight {
 public:
  InFlight() = default;
  explicit InFlight(ProviderState* p) : p_(p) { p_->in_flight.fetch_add(1, std::memory_order_relaxed); }
  InFlight(InFlight&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  InFlight& operator=(InFlight&& o) noexcept {
    if (this != &o) {
      Release();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  ~InFlight() { Release(); }

  void Release() {
    if (p_ != nullptr) {
      p_->in_flight.fetch_sub(1, std::memory_order_relaxed);
      p_ = nullptr;
    }
  }

 private:
  ProviderState* p_ = nullptr;
};

}  // namespace ccrelay::state
