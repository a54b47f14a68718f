#include "dataplane/state/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace ccrelay::state {

void TokenBucket::SetLimit(uint32_t per_minute, common::MonoTime now) {
  if (per_minute == limit_) {
    return;
  }
  if (limit_ == 0) {
    tokens_ = per_minute;
  } else {
    Refill(now);
    tokens_ = std::min<double>(tokens_, per_minute);
  }
  limit_ = per_minute;
  last_ = now;
}

void TokenBucket::Refill(common::MonoTime now) {
  if (limit_ == 0) {
    return;
  }
  if (now > last_) {
    const double seconds = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min<double>(limit_, tokens_ + seconds * limit_ / 60.0);
    last_ = now;
  }
}

double TokenBucket::Need(double n) const { return std::min<double>(n, limit_); }

double TokenBucket::Available(common::MonoTime now) {
  Refill(now);
  return limit_ == 0 ? INFINITY : tokens_;
}

bool TokenBucket::Has(double n, common::MonoTime now) {
  if (limit_ == 0) {
    return true;
  }
  Refill(now);
  // A tiny epsilon absorbs floating-point residue of the refill arithmetic.
  return tokens_ + 1e-9 >= Need(n);
}

TokenBucket::Duration TokenBucket::TimeUntil(double n, common::MonoTime now) {
  if (Has(n, now)) {
    return Duration::zero();
  }
  const double missing = Need(n) - tokens_;
  const double seconds = missing * 60.0 / limit_;
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds)) + Duration(1);
}

void TokenBucket::Take(double n, common::MonoTime now) {
  if (limit_ == 0) {
    return;
  }
  Refill(now);
  tokens_ = std::min<double>(limit_, tokens_ - n);
}

}  // namespace ccrelay::state
