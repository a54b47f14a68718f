#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "proto/team.pb.h"

#include "controlplane/store/team_store.h"

namespace ccrelay::common {
class Clock;
}

namespace ccrelay::controlplane {

// A UTC calendar period [start_ms, end_ms).
struct BudgetPeriod {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};
BudgetPeriod UtcDayOf(int64_t unix_ms);
BudgetPeriod UtcMonthOf(int64_t unix_ms);

// "$50.00" (more decimals only when the amount needs them), "2000000 tokens".
std::string UsdText(double usd);
std::string TokensText(uint64_t tokens);

// The bank of the users' budgets (SPEC.md "Budgets (the ledger)"): for each user whose policy
// has a budget, the committed spend of the current UTC day and month, read once from the store
// and then advanced by every batch committed through Committed(); from it, each data plane's
// grant: an equal share of what is left. Not thread-safe: one thread (the usage writer) owns it,
// which also orders the store's reads after its writes.
class BudgetLedger {
 public:
  BudgetLedger(TeamStore& store, const common::Clock& clock);

  // The users in force (the snapshot's): those with a non-zero limit get grants. Returns true
  // when the set of budgets (names or limits) changed, i.e. every data plane needs new grants.
  bool SetUsers(const ccrelay::v1::Users& users);
  bool has_budgets() const { return !users_.empty(); }

  // `records` were added to the database (by one committed RecordUsage: the records above the
  // source's committed seq, never a resend). Advances the cached spend. Returns whether a
  // budgeted user's spend may have changed (every share is then new).
  bool Committed(const std::vector<ccrelay::v1::UsageRecord>& records);

  // Every budgeted user's grant for a data plane whose records up to `committed_seq` are in the
  // database, when `data_planes` data planes are connected (each gets left / data_planes).
  ccrelay::v1::BudgetGrants Grants(uint64_t committed_seq, size_t data_planes);

 private:
  struct Entry {
    ccrelay::v1::Budget budget;
    bool loaded = false;
    BudgetPeriod day;    // the periods of the cached sums
    BudgetPeriod month;
    Spend day_spend;
    Spend month_spend;
  };
  // Reads the spend again when it is not cached or its period has ended. False: the store failed.
  bool Refresh(const std::string& name, Entry* e, int64_t now_ms);
  void Grant(const std::string& name, const Entry& e, bool spend_known, uint64_t committed_seq,
             size_t data_planes, ccrelay::v1::BudgetGrant* out) const;

  TeamStore& store_;
  const common::Clock& clock_;
  std::map<std::string, Entry, std::less<>> users_;  // users with a budget
};

}  // namespace ccrelay::controlplane
