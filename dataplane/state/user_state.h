#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "dataplane/common/clock.h"
#include "dataplane/state/token_bucket.h"

namespace ccrelay::state {

// What a user may still spend through this data plane: a BudgetGrant of the control plane turned
// into caps on the user's cumulative spend (SPEC.md "Budgets (data plane side)"). Immutable once
// published, except the warning flag.
struct BudgetGrantState {
  bool has_usd = false;
  bool has_tokens = false;
  double cap_usd = 0;        // admitted while spent_usd < cap_usd
  uint64_t cap_tokens = 0;   // admitted while spent_tokens < cap_tokens
  bool exhausted = false;    // a hard budget is spent: the final error
  std::string period;        // "daily" | "monthly"
  std::string limit;         // "$50.00", "2000000 tokens"
  int64_t resets_unix_ms = 0;
  std::string warning;       // "" none
  uint64_t committed_seq = 0;
  mutable std::atomic<bool> warned{false};  // the budget_warning log line went out
};

// Mutable state of one relay-key user, kept by name in the StateRegistry so that it survives
// snapshots (and key rotations). The rpm/tpm buckets sit under a small mutex like a key's (a few
// arithmetic operations); the budget is read with atomics only.
class UserState {
 public:
  // rpm_limit / tpm_limit of the snapshot (0 = unlimited); a change keeps the balance.
  void SetLimits(uint32_t rpm, uint32_t tpm, common::MonoTime now);
  // Takes one request and `input_tokens` (estimated) when both buckets have room; else returns
  // false with `*retry_at` the time they will. `*which` names the limit ("rpm" | "tpm").
  bool TryAcquire(int64_t input_tokens, common::MonoTime now, common::MonoTime* retry_at,
                  const char** which);
  // The request's real tokens are known: `delta` more (or fewer) than what was taken.
  void AdjustTokens(int64_t delta, common::MonoTime now);

  // Spend of every finished request of this user on this data plane since the process started
  // (updated by the usage journal, under its lock, together with the record).
  void AddSpend(double usd, uint64_t tokens);
  double spent_usd() const { return spent_usd_.load(std::memory_order_acquire); }
  uint64_t spent_tokens() const { return spent_tokens_.load(std::memory_order_acquire); }

  // The grant in force (null: none received).
  std::shared_ptr<const BudgetGrantState> grant() const {
    return grant_.load(std::memory_order_acquire);
  }
  void SetGrant(std::shared_ptr<const BudgetGrantState> grant) {
    grant_.store(std::move(grant), std::memory_order_release);
  }

 private:
  absl::Mutex mu_;
  TokenBucket rpm_ ABSL_GUARDED_BY(mu_);
  TokenBucket tpm_ ABSL_GUARDED_BY(mu_);
  std::atomic<double> spent_usd_{0};
  std::atomic<uint64_t> spent_tokens_{0};
  std::atomic<std::shared_ptr<const BudgetGrantState>> grant_;
};

}  // namespace ccrelay::state
