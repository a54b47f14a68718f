#include "dataplane/state/key_state.h"

#include <algorithm>

namespace ccrelay::state {

namespace {

using Duration = KeyState::Duration;

// The monotonic time of a wall-clock instant (unix ms), from one reading of both clocks.
common::MonoTime MonoAt(int64_t unix_ms, common::MonoTime now, int64_t now_unix_ms) {
  return now + std::chrono::milliseconds(unix_ms - now_unix_ms);
}

common::MonoTime Clamp(common::MonoTime t, common::MonoTime now, Duration max) {
  return std::min(t, now + max);
}

double AvailableOrUnlimited(TokenBucket& bucket, common::MonoTime now) {
  return bucket.unlimited() ? -1 : bucket.Available(now);
}

}  // namespace

void KeyState::SetLimits(const KeyLimits& limits, common::MonoTime now) {
  absl::MutexLock lock(&mu_);
  limits_ = limits;
  rpm_.SetLimit(limits.rpm, now);
  tpm_.SetLimit(limits.tpm, now);
  itpm_.SetLimit(limits.itpm, now);
  otpm_.SetLimit(limits.otpm, now);
}

KeyLimits KeyState::limits() const {
  absl::MutexLock lock(&mu_);
  return limits_;
}

KeyCheck KeyState::CheckLocked(const RequestCost& cost, common::MonoTime now) {
  KeyCheck check;
  if (disabled()) {
    check.verdict = KeyCheck::Verdict::kDisabled;
    return check;
  }
  common::MonoTime at = std::max({cooldown_until_, blocked_until_, unified_blocked_until_});
  if (cost.metered) {
    const auto input = static_cast<double>(std::max<int64_t>(0, cost.input_tokens));
    at = std::max(at, now + rpm_.TimeUntil(1, now));
    at = std::max(at, now + itpm_.TimeUntil(input, now));
    at = std::max(at, now + tpm_.TimeUntil(input, now));
    at = std::max(at, now + otpm_.TimeUntil(1, now));
  }
  const common::MonoTime low = std::max(low_until_, unified_low_until_);
  Publish(at, low);
  if (at > now) {
    check.verdict = KeyCheck::Verdict::kLimited;
    check.available_at = at;
    return check;
  }
  check.verdict = low > now ? KeyCheck::Verdict::kLow : KeyCheck::Verdict::kOk;
  return check;
}

void KeyState::Publish(common::MonoTime limited_until, common::MonoTime low_until) {
  limited_until_ns_.store(limited_until.time_since_epoch().count(), std::memory_order_relaxed);
  low_until_ns_.store(low_until.time_since_epoch().count(), std::memory_order_relaxed);
}

double KeyState::Headroom(common::MonoTime now) const {
  if (disabled()) {
    return 0;
  }
  const int64_t t = now.time_since_epoch().count();
  if (limited_until_ns_.load(std::memory_order_relaxed) > t) {
    return 0;
  }
  return low_until_ns_.load(std::memory_order_relaxed) > t ? 0.5 : 1;
}

KeyCheck KeyState::Check(const RequestCost& cost, common::MonoTime now) {
  absl::MutexLock lock(&mu_);
  return CheckLocked(cost, now);
}

KeyCheck KeyState::TryAcquire(const RequestCost& cost, common::MonoTime now) {
  absl::MutexLock lock(&mu_);
  KeyCheck check = CheckLocked(cost, now);
  if (check.has_headroom() && cost.metered) {
    const auto input = static_cast<double>(std::max<int64_t>(0, cost.input_tokens));
    rpm_.Take(1, now);
    itpm_.Take(input, now);
    tpm_.Take(input, now);
  }
  return check;
}

void KeyState::GiveBack(const RequestCost& cost, common::MonoTime now) {
  if (!cost.metered) {
    return;
  }
  const auto input = static_cast<double>(std::max<int64_t>(0, cost.input_tokens));
  absl::MutexLock lock(&mu_);
  rpm_.Take(-1, now);
  itpm_.Take(-input, now);
  tpm_.Take(-input, now);
}

void KeyState::AdjustInput(int64_t delta, common::MonoTime now) {
  if (delta == 0) {
    return;
  }
  absl::MutexLock lock(&mu_);
  itpm_.Take(static_cast<double>(delta), now);
  tpm_.Take(static_cast<double>(delta), now);
}

void KeyState::ChargeOutput(int64_t delta, common::MonoTime now) {
  if (delta == 0) {
    return;
  }
  absl::MutexLock lock(&mu_);
  otpm_.Take(static_cast<double>(delta), now);
  tpm_.Take(static_cast<double>(delta), now);
}

void KeyState::LearnLocked(const UpstreamLimits& limits, const common::Clock& clock,
                           Duration fallback) {
  const common::MonoTime now = clock.Now();
  const int64_t now_unix_ms = clock.UnixMillis();
  if (limits.has_standard) {
    // Each response carries the whole picture: it replaces what the previous one said.
    blocked_until_ = {};
    low_until_ = {};
    for (const LimitFamily* f :
         {&limits.requests, &limits.tokens, &limits.input_tokens, &limits.output_tokens}) {
      if (f->remaining < 0 || f->reset_unix_ms < 0) {
        continue;
      }
      const common::MonoTime reset =
          Clamp(MonoAt(f->reset_unix_ms, now, now_unix_ms), now, kMaxStandardReset);
      if (reset <= now) {
        continue;  // already replenished
      }
      if (f->remaining == 0) {
        blocked_until_ = std::max(blocked_until_, reset);
      } else if (f->limit > 0 && f->remaining * 10 < f->limit) {
        low_until_ = std::max(low_until_, reset);
      }
    }
  }
  if (limits.has_unified) {
    unified_blocked_until_ = {};
    unified_low_until_ = {};
    if (std::optional<int64_t> until = limits.UnifiedRejectedUntil(); until.has_value()) {
      unified_blocked_until_ = *until >= 0
                                   ? Clamp(MonoAt(*until, now, now_unix_ms), now, kMaxUnifiedReset)
                                   : now + fallback;
    } else if (limits.unified == UnifiedStatus::kAllowedWarning) {
      unified_low_until_ =
          limits.unified_reset_unix_ms >= 0
              ? Clamp(MonoAt(limits.unified_reset_unix_ms, now, now_unix_ms), now, kMaxUnifiedReset)
              : now + kWarningWithoutReset;
    }
  }
}

void KeyState::Learn(const UpstreamLimits& limits, const common::Clock& clock, Duration fallback) {
  if (!limits.has_standard && !limits.has_unified) {
    return;
  }
  absl::MutexLock lock(&mu_);
  LearnLocked(limits, clock, fallback);
  Publish(std::max({cooldown_until_, blocked_until_, unified_blocked_until_}),
          std::max(low_until_, unified_low_until_));
}

common::MonoTime KeyState::OnRateLimited(const UpstreamLimits& limits, const common::Clock& clock,
                                         Duration fallback) {
  absl::MutexLock lock(&mu_);
  LearnLocked(limits, clock, fallback);
  const common::MonoTime now = clock.Now();
  common::MonoTime until;
  if (limits.retry_after_ms >= 0) {
    until = Clamp(now + std::chrono::milliseconds(limits.retry_after_ms), now, kMaxRetryAfter);
  } else if (blocked_until_ > now || unified_blocked_until_ > now) {
    until = std::max(blocked_until_, unified_blocked_until_);
  } else {
    until = now + fallback;
  }
  cooldown_until_ = std::max(cooldown_until_, until);
  const common::MonoTime blocked = std::max({cooldown_until_, blocked_until_, unified_blocked_until_});
  Publish(blocked, std::max(low_until_, unified_low_until_));
  return blocked;
}

bool KeyState::Disable(std::string_view reason, int64_t unix_ms) {
  absl::MutexLock lock(&mu_);
  if (disabled_.load(std::memory_order_relaxed)) {
    return false;
  }
  disabled_reason_ = std::string(reason);
  disabled_at_unix_ms_ = unix_ms;
  disabled_.store(true, std::memory_order_release);
  return true;
}

void KeyState::Enable() {
  absl::MutexLock lock(&mu_);
  disabled_.store(false, std::memory_order_release);
  disabled_reason_.clear();
  disabled_at_unix_ms_ = 0;
}

bool KeyState::EnableIfDisabledBefore(int64_t unix_ms) {
  absl::MutexLock lock(&mu_);
  if (!disabled_.load(std::memory_order_relaxed) || disabled_at_unix_ms_ >= unix_ms) {
    return false;
  }
  disabled_.store(false, std::memory_order_release);
  disabled_reason_.clear();
  disabled_at_unix_ms_ = 0;
  return true;
}

KeyStatus KeyState::Status(const BreakerConfig& breaker_config, common::MonoTime now) {
  KeyStatus status;
  status.requests = requests.load(std::memory_order_relaxed);
  status.failures = failures.load(std::memory_order_relaxed);
  const bool breaker_open = breaker_.state(breaker_config, now) == CircuitBreaker::State::kOpen;
  absl::MutexLock lock(&mu_);
  status.limits = limits_;
  status.rpm_available = AvailableOrUnlimited(rpm_, now);
  status.tpm_available = AvailableOrUnlimited(tpm_, now);
  status.itpm_available = AvailableOrUnlimited(itpm_, now);
  status.otpm_available = AvailableOrUnlimited(otpm_, now);
  if (disabled()) {
    status.state = "auth_failed";
    status.disabled_reason = disabled_reason_;
    status.disabled_at_unix_ms = disabled_at_unix_ms_;
    return status;
  }
  const KeyCheck check = CheckLocked(RequestCost{}, now);
  if (check.verdict == KeyCheck::Verdict::kLimited) {
    status.state = cooldown_until_ > now ? "cooling" : "rate_limited";
    status.available_in_ms =
        std::chrono::ceil<std::chrono::milliseconds>(check.available_at - now).count();
  } else if (breaker_open) {
    status.state = "circuit_open";
  } else {
    status.state = check.verdict == KeyCheck::Verdict::kLow ? "low" : "active";
  }
  return status;
}

}  // namespace ccrelay::state
