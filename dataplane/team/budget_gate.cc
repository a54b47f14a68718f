#include "dataplane/team/budget_gate.h"

#include "dataplane/common/str.h"
#include "dataplane/common/timestamps.h"

namespace ccrelay::team {

BudgetVerdict CheckBudget(const state::UserState& user) {
  BudgetVerdict v;
  v.grant = user.grant();
  if (v.grant == nullptr) {
    v.kind = BudgetVerdict::Kind::kNoGrant;
    return v;
  }
  const state::BudgetGrantState& g = *v.grant;
  if (g.exhausted) {
    v.kind = BudgetVerdict::Kind::kExhausted;
  } else if ((g.has_usd && user.spent_usd() >= g.cap_usd) ||
             (g.has_tokens && user.spent_tokens() >= g.cap_tokens)) {
    v.kind = BudgetVerdict::Kind::kShareUsedUp;
  }
  return v;
}

std::string BudgetExhaustedMessage(const state::BudgetGrantState& g, std::string_view user) {
  std::string out = common::StrCat(g.period.empty() ? std::string_view("the") : g.period,
                                   " budget", g.limit.empty() ? "" : " of ", g.limit,
                                   " reached for user ", user);
  if (g.resets_unix_ms > 0) {
    common::StrAppend(&out, "; resets ", common::FormatRfc3339(g.resets_unix_ms));
  }
  return out;
}

}  // namespace ccrelay::team
