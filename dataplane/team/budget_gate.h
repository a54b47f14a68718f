#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "dataplane/state/user_state.h"

namespace ccrelay::team {

// The final budget error (a hard budget spent everywhere): 402 billing_error with
// `x-should-retry: false`. The real Claude Code CLI (2.1.197) makes one try and shows
// "API Error: 402 <message>"; 403 is shown as "Failed to authenticate", 401 and 429 are retried
// for minutes (tests/e2e/budget_status_probe_test.sh; SPEC.md "Budgets (data plane side)").
inline constexpr int kBudgetExhaustedStatus = 402;
// Anthropic's SDKs, Claude Code included, do not retry an answer with this header.
inline constexpr std::string_view kNoRetryHeader = "x-should-retry: false\r\n";

// Whether a request of a user with a budget may start (two atomic loads and the grant pointer;
// no lock).
struct BudgetVerdict {
  enum class Kind {
    kAdmit,        // below the caps of the grant in force
    kNoGrant,      // a budget, no grant received yet: retryable 429
    kShareUsedUp,  // this data plane's share is spent, the next grant refills it: 429
    kExhausted,    // the control plane says the budget is spent: the final error
  };
  Kind kind = Kind::kAdmit;
  std::shared_ptr<const state::BudgetGrantState> grant;  // the grant in force (may be null)
};

BudgetVerdict CheckBudget(const state::UserState& user);

// "monthly budget of $50.00 reached for user alice; resets 2027-01-01T00:00:00Z"
std::string BudgetExhaustedMessage(const state::BudgetGrantState& grant, std::string_view user);

}  // namespace ccrelay::team
