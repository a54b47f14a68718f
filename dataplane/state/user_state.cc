#include "dataplane/state/user_state.h"

#include <algorithm>

namespace ccrelay::state {

void UserState::SetLimits(uint32_t rpm, uint32_t tpm, common::MonoTime now) {
  absl::MutexLock lock(&mu_);
  rpm_.SetLimit(rpm, now);
  tpm_.SetLimit(tpm, now);
}

bool UserState::TryAcquire(int64_t input_tokens, common::MonoTime now,
                           common::MonoTime* retry_at, const char** which) {
  const auto input = static_cast<double>(std::max<int64_t>(0, input_tokens));
  absl::MutexLock lock(&mu_);
  const auto rpm_wait = rpm_.TimeUntil(1, now);
  const auto tpm_wait = tpm_.TimeUntil(input, now);
  if (rpm_wait.count() > 0 || tpm_wait.count() > 0) {
    *which = rpm_wait >= tpm_wait ? "rpm" : "tpm";
    *retry_at = now + std::max(rpm_wait, tpm_wait);
    return false;
  }
  rpm_.Take(1, now);
  tpm_.Take(input, now);
  return true;
}

void UserState::AdjustTokens(int64_t delta, common::MonoTime now) {
  if (delta == 0) {
    return;
  }
  absl::MutexLock lock(&mu_);
  tpm_.Take(static_cast<double>(delta), now);
}

void UserState::AddSpend(double usd, uint64_t tokens) {
  spent_usd_.fetch_add(usd, std::memory_order_acq_rel);
  spent_tokens_.fetch_add(tokens, std::memory_order_acq_rel);
}

}  // namespace ccrelay::state
