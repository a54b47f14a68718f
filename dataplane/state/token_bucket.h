#pragma once

#include <chrono>
#include <cstdint>

#include "dataplane/common/clock.h"

namespace ccrelay::state {

// A token bucket for a per-minute limit: it holds at most `per_minute` tokens and refills
// continuously at per_minute / 60 tokens a second, so a full minute's budget may be spent in a
// burst and is then earned back smoothly. A limit of 0 means unlimited.
//
// The balance may go below zero: usage is often known only after the fact (input tokens are
// estimated before sending and corrected when the response reports them; output tokens are
// charged as they are reported), and a debt simply delays the next request.
//
// Not synchronised: the owner (KeyState) guards it with the key's mutex.
class TokenBucket {
 public:
  using Duration = std::chrono::nanoseconds;

  // Sets the limit. A new bucket (or one that was unlimited) starts full; a changed limit keeps
  // the balance, capped at the new capacity.
  void SetLimit(uint32_t per_minute, common::MonoTime now);
  uint32_t limit() const { return limit_; }
  bool unlimited() const { return limit_ == 0; }

  // Tokens available now (may be negative).
  double Available(common::MonoTime now);
  // Whether `n` tokens can be taken now. A request larger than the whole bucket needs a full
  // bucket (otherwise it could never run).
  bool Has(double n, common::MonoTime now);
  // How long until Has(n) holds (zero when it does now).
  Duration TimeUntil(double n, common::MonoTime now);
  // Takes `n` tokens (may leave a debt). Negative `n` gives tokens back, capped at capacity.
  void Take(double n, common::MonoTime now);

 private:
  void Refill(common::MonoTime now);
  double Need(double n) const;

  uint32_t limit_ = 0;
  double tokens_ = 0;
  common::MonoTime last_{};
};

}  // namespace ccrelay::state
