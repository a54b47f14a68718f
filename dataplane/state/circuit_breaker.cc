#include "dataplane/state/circuit_breaker.h"

#include <algorithm>

namespace ccrelay::state {

namespace {

int64_t SlotWidthNs(const BreakerConfig& config) {
  const int64_t window =
      std::chrono::duration_cast<std::chrono::nanoseconds>(config.window).count();
  return std::max<int64_t>(1, window / 10);
}

int64_t SlotIndex(const BreakerConfig& config, common::MonoTime now) {
  return now.time_since_epoch().count() / SlotWidthNs(config);
}

}  // namespace

CircuitBreaker::State CircuitBreaker::StateLocked(const BreakerConfig& config,
                                                  common::MonoTime now) const {
  if (!open_) {
    return State::kClosed;
  }
  return now >= opened_at_ + config.open ? State::kHalfOpen : State::kOpen;
}

CircuitBreaker::State CircuitBreaker::state(const BreakerConfig& config,
                                            common::MonoTime now) const {
  absl::MutexLock lock(&mu_);
  return StateLocked(config, now);
}

common::MonoTime CircuitBreaker::opened_at() const {
  absl::MutexLock lock(&mu_);
  return opened_at_;
}

bool CircuitBreaker::WouldAdmit(const BreakerConfig& config, common::MonoTime now) const {
  absl::MutexLock lock(&mu_);
  switch (StateLocked(config, now)) {
    case State::kClosed:
      return true;
    case State::kOpen:
      return false;
    case State::kHalfOpen:
      return probes_in_flight_ < std::max<uint32_t>(1, config.half_open_probes);
  }
  return false;
}

CircuitBreaker::Admission CircuitBreaker::TryAcquire(const BreakerConfig& config,
                                                     common::MonoTime now) {
  absl::MutexLock lock(&mu_);
  switch (StateLocked(config, now)) {
    case State::kClosed:
      return Admission::kAllowed;
    case State::kOpen:
      return Admission::kDenied;
    case State::kHalfOpen:
      if (probes_in_flight_ < std::max<uint32_t>(1, config.half_open_probes)) {
        ++probes_in_flight_;
        return Admission::kProbe;
      }
      return Admission::kDenied;
  }
  return Admission::kDenied;
}

void CircuitBreaker::ReleaseProbe() {
  absl::MutexLock lock(&mu_);
  if (probes_in_flight_ > 0) {
    --probes_in_flight_;
  }
}

void CircuitBreaker::Open(common::MonoTime now) {
  open_ = true;
  opened_at_ = now;
  consecutive_failures_ = 0;
  slots_ = {};
}

void CircuitBreaker::Close() {
  open_ = false;
  consecutive_failures_ = 0;
  probes_in_flight_ = 0;
  slots_ = {};
}

void CircuitBreaker::Count(const BreakerConfig& config, bool success, common::MonoTime now) {
  const int64_t index = SlotIndex(config, now);
  Slot& slot = slots_[static_cast<size_t>(index % static_cast<int64_t>(kSlots))];
  if (slot.index != index) {
    slot = Slot{index, 0, 0};
  }
  if (success) {
    ++slot.successes;
  } else {
    ++slot.failures;
  }
}

void CircuitBreaker::WindowTotals(const BreakerConfig& config, common::MonoTime now,
                                  uint32_t* successes, uint32_t* failures) const {
  const int64_t newest = SlotIndex(config, now);
  *successes = 0;
  *failures = 0;
  for (const Slot& slot : slots_) {
    if (slot.index >= 0 && slot.index > newest - static_cast<int64_t>(kSlots) &&
        slot.index <= newest) {
      *successes += slot.successes;
      *failures += slot.failures;
    }
  }
}

CircuitBreaker::Transition CircuitBreaker::Record(const BreakerConfig& config, bool success,
                                                  Admission how, common::MonoTime now) {
  absl::MutexLock lock(&mu_);
  if (how == Admission::kProbe && probes_in_flight_ > 0) {
    --probes_in_flight_;
  }
  if (open_) {
    if (how == Admission::kAllowed || how == Admission::kDenied) {
      return Transition::kNone;  // started before the breaker opened
    }
    if (success) {
      Close();
      return Transition::kClosed;
    }
    Open(now);
    return Transition::kReopened;
  }
  Count(config, success, now);
  if (success) {
    consecutive_failures_ = 0;
    return Transition::kNone;
  }
  ++consecutive_failures_;
  bool trip = config.failure_threshold > 0 && consecutive_failures_ >= config.failure_threshold;
  if (!trip && config.failure_ratio > 0) {
    uint32_t ok = 0;
    uint32_t failed = 0;
    WindowTotals(config, now, &ok, &failed);
    const uint32_t total = ok + failed;
    trip = total >= std::max<uint32_t>(1, config.min_requests) &&
           static_cast<double>(failed) >= config.failure_ratio * static_cast<double>(total);
  }
  if (trip) {
    Open(now);
    return Transition::kOpened;
  }
  return Transition::kNone;
}

}  // namespace ccrelay::state
