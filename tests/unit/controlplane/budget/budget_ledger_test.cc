#include "controlplane/budget/budget_ledger.h"

#include <chrono>
#include <string>

#include "gtest/gtest.h"

#include "tests/fakes/fake_clock.h"
#include "tests/unit/controlplane/budget/fake_team_store.h"

namespace ccrelay::controlplane {
namespace {

using testing::FakeTeamStore;
using testing::Record;

constexpr int64_t kJan15 = 1799971200000;  // 2027-01-15T00:00:00Z (FakeClock starts 08:00)
constexpr int64_t kJan16 = 1800057600000;
constexpr int64_t kJan1 = 1798761600000;
constexpr int64_t kFeb1 = 1801440000000;
constexpr int64_t kMar1 = 1803859200000;
constexpr int64_t kNow = ccrelay::testing::FakeClock::kStartUnixMs;

ccrelay::v1::RelayUser* AddUser(ccrelay::v1::Users* users, const std::string& name) {
  ccrelay::v1::RelayUser* u = users->add_users();
  u->set_name(name);
  u->set_enabled(true);
  return u;
}

ccrelay::v1::Users MonthlyUsd(const std::string& name, double usd, double soft = 0) {
  ccrelay::v1::Users users;
  ccrelay::v1::Budget* b = AddUser(&users, name)->mutable_policy()->mutable_budget();
  b->set_usd_per_month(usd);
  b->set_soft_fraction(soft);
  return users;
}

class BudgetLedgerTest : public ::testing::Test {
 protected:
  ccrelay::testing::FakeClock clock_;
  FakeTeamStore store_;
  BudgetLedger ledger_{store_, clock_};
};

TEST(BudgetPeriodTest, UtcDaysAndMonths) {
  EXPECT_EQ(UtcDayOf(kNow).start_ms, kJan15);
  EXPECT_EQ(UtcDayOf(kNow).end_ms, kJan16);
  EXPECT_EQ(UtcDayOf(kJan16).start_ms, kJan16);  // the first millisecond belongs to the new day
  EXPECT_EQ(UtcDayOf(kJan16 - 1).start_ms, kJan15);
  EXPECT_EQ(UtcMonthOf(kNow).start_ms, kJan1);
  EXPECT_EQ(UtcMonthOf(kNow).end_ms, kFeb1);
  EXPECT_EQ(UtcMonthOf(kFeb1).end_ms, kMar1);
}

TEST(BudgetPeriodTest, LimitTexts) {
  EXPECT_EQ(UsdText(50), "$50.00");
  EXPECT_EQ(UsdText(0.5), "$0.50");
  EXPECT_EQ(UsdText(0.005), "$0.005");  // never rounded up to a cent it is not
  EXPECT_EQ(TokensText(2000000), "2000000 tokens");
}

TEST_F(BudgetLedgerTest, EachDataPlaneGetsAnEqualShareOfWhatIsLeft) {
  store_.Put(Record(1, "alice", kNow - 1000, 10.0));
  store_.Put(Record(2, "bob", kNow - 1000, 30.0));  // no budget: not granted
  ccrelay::v1::Users users = MonthlyUsd("alice", 50);
  AddUser(&users, "bob");
  ASSERT_TRUE(ledger_.SetUsers(users));
  ASSERT_TRUE(ledger_.has_budgets());

  const ccrelay::v1::BudgetGrants g = ledger_.Grants(/*committed_seq=*/7, /*data_planes=*/2);
  ASSERT_EQ(g.grants_size(), 1);
  const ccrelay::v1::BudgetGrant& a = g.grants(0);
  EXPECT_EQ(a.user(), "alice");
  EXPECT_EQ(a.committed_seq(), 7u);
  ASSERT_TRUE(a.has_usd());
  EXPECT_DOUBLE_EQ(a.usd(), 20.0);  // (50 - 10) / 2
  EXPECT_FALSE(a.has_tokens());     // no token budget: no token limit
  EXPECT_FALSE(a.exhausted());
  EXPECT_EQ(a.period(), "monthly");
  EXPECT_EQ(a.limit(), "$50.00");
  EXPECT_EQ(a.resets_unix_ms(), kFeb1);
  EXPECT_EQ(a.warning(), "");

  // One data plane fewer: each share grows; none connected counts as one.
  EXPECT_DOUBLE_EQ(ledger_.Grants(7, 1).grants(0).usd(), 40.0);
  EXPECT_DOUBLE_EQ(ledger_.Grants(7, 0).grants(0).usd(), 40.0);
  EXPECT_DOUBLE_EQ(ledger_.Grants(7, 4).grants(0).usd(), 10.0);
}

TEST_F(BudgetLedgerTest, SpendIsReadOnceThenAdvancedByCommittedBatches) {
  ledger_.SetUsers(MonthlyUsd("alice", 50));
  EXPECT_DOUBLE_EQ(ledger_.Grants(0, 1).grants(0).usd(), 50.0);
  const int queries = store_.spend_queries();
  EXPECT_EQ(queries, 2);  // today and this month

  const std::vector<ccrelay::v1::UsageRecord> batch = {
      Record(1, "alice", kNow, 4.0), Record(2, "carol", kNow, 100.0),
      Record(3, "alice", kJan1 - 1, 9.0)};  // last month: not this month's spend
  ASSERT_TRUE(store_.RecordUsage("dp-1/a", batch, kNow).ok());
  ledger_.Committed(batch);
  for (int i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(ledger_.Grants(3, 1).grants(0).usd(), 46.0);
  }
  EXPECT_EQ(store_.spend_queries(), queries);  // no query per grant
}

TEST_F(BudgetLedgerTest, ExhaustedWhenNothingIsLeft) {
  store_.Put(Record(1, "alice", kNow, 50.0));
  ledger_.SetUsers(MonthlyUsd("alice", 50));
  const ccrelay::v1::BudgetGrant a = ledger_.Grants(1, 2).grants(0);
  EXPECT_TRUE(a.exhausted());
  EXPECT_DOUBLE_EQ(a.usd(), 0.0);
  EXPECT_EQ(a.period(), "monthly");
  EXPECT_EQ(a.limit(), "$50.00");
  EXPECT_EQ(a.resets_unix_ms(), kFeb1);

  // Overspent (requests in flight when the share ran out): still 0, never negative.
  store_.Put(Record(2, "alice", kNow, 3.0));
  ledger_.Committed({Record(2, "alice", kNow, 3.0)});
  EXPECT_DOUBLE_EQ(ledger_.Grants(2, 2).grants(0).usd(), 0.0);
}

TEST_F(BudgetLedgerTest, TheBindingBudgetIsTheSpentOneThatResetsLast) {
  ccrelay::v1::Users users;
  ccrelay::v1::Budget* b = AddUser(&users, "alice")->mutable_policy()->mutable_budget();
  b->set_usd_per_day(5);
  b->set_usd_per_month(50);
  b->set_tokens_per_day(1000);
  ledger_.SetUsers(users);
  store_.Put(Record(1, "alice", kJan15 - 1, 20.0, 100, 100));  // yesterday
  store_.Put(Record(2, "alice", kNow, 3.0, 300, 100));         // today
  ccrelay::v1::BudgetGrant a = ledger_.Grants(2, 2).grants(0);
  EXPECT_FALSE(a.exhausted());
  EXPECT_DOUBLE_EQ(a.usd(), 1.0);   // min(5 - 3, 50 - 23) / 2
  EXPECT_EQ(a.tokens(), 300u);      // (1000 - 400) / 2
  EXPECT_EQ(a.period(), "daily");   // 60% of the day's dollars gone: the tightest
  EXPECT_EQ(a.limit(), "$5.00");
  EXPECT_EQ(a.resets_unix_ms(), kJan16);

  // The day's dollars run out: exhausted until tomorrow.
  ledger_.Committed({Record(3, "alice", kNow, 2.0)});
  a = ledger_.Grants(3, 2).grants(0);
  EXPECT_TRUE(a.exhausted());
  EXPECT_EQ(a.period(), "daily");
  EXPECT_EQ(a.resets_unix_ms(), kJan16);

  // The month's run out too: that is the one to name (it resets last).
  ledger_.Committed({Record(4, "alice", kNow, 25.0)});
  a = ledger_.Grants(4, 2).grants(0);
  EXPECT_TRUE(a.exhausted());
  EXPECT_EQ(a.period(), "monthly");
  EXPECT_EQ(a.limit(), "$50.00");
  EXPECT_EQ(a.resets_unix_ms(), kFeb1);
}

TEST_F(BudgetLedgerTest, TokenSharesAreWholeAndAtLeastOneWhileAnythingIsLeft) {
  ccrelay::v1::Users users;
  AddUser(&users, "alice")->mutable_policy()->mutable_budget()->set_tokens_per_month(2000000);
  ledger_.SetUsers(users);
  store_.Put(Record(1, "alice", kNow, 0, 1999000, 998));
  ccrelay::v1::BudgetGrant a = ledger_.Grants(1, 3).grants(0);
  EXPECT_FALSE(a.has_usd());
  EXPECT_EQ(a.tokens(), 1u);  // 2 left among 3: floor would be 0, which admits nothing
  EXPECT_EQ(a.limit(), "2000000 tokens");
  ledger_.Committed({Record(2, "alice", kNow, 0, 2, 0)});
  a = ledger_.Grants(2, 3).grants(0);
  EXPECT_EQ(a.tokens(), 0u);
  EXPECT_TRUE(a.exhausted());
}

TEST_F(BudgetLedgerTest, SoftFractionWarns) {
  ledger_.SetUsers(MonthlyUsd("alice", 50, /*soft=*/0.8));
  store_.Put(Record(1, "alice", kNow, 39.0));
  EXPECT_EQ(ledger_.Grants(1, 1).grants(0).warning(), "");  // 78%
  ledger_.Committed({Record(2, "alice", kNow, 2.0)});
  EXPECT_EQ(ledger_.Grants(2, 1).grants(0).warning(),
            "82% of the monthly budget of $50.00 used");
  EXPECT_FALSE(ledger_.Grants(2, 1).grants(0).exhausted());
}

TEST_F(BudgetLedgerTest, TheDayAndTheMonthRollOverAtUtcMidnight) {
  ccrelay::v1::Users users;
  ccrelay::v1::Budget* b = AddUser(&users, "alice")->mutable_policy()->mutable_budget();
  b->set_usd_per_day(10);
  b->set_usd_per_month(100);
  ledger_.SetUsers(users);
  store_.Put(Record(1, "alice", kNow, 10.0));
  EXPECT_TRUE(ledger_.Grants(1, 1).grants(0).exhausted());

  // 16 h later it is 2027-01-16T00:00:00Z: a new day, the same month.
  clock_.Advance(std::chrono::hours(16));
  ccrelay::v1::BudgetGrant a = ledger_.Grants(1, 1).grants(0);
  EXPECT_FALSE(a.exhausted());
  EXPECT_DOUBLE_EQ(a.usd(), 10.0);  // min(10 - 0, 100 - 10)
  EXPECT_EQ(a.resets_unix_ms(), kJan16 + 86400000);

  // The month's dollars are spent on the 31st; on February 1st they are back.
  store_.Put(Record(2, "alice", kFeb1 - 1000, 90.0));
  clock_.Advance(std::chrono::milliseconds(kFeb1 - 1000 - kJan16));
  a = ledger_.Grants(2, 1).grants(0);
  EXPECT_TRUE(a.exhausted());
  EXPECT_EQ(a.period(), "monthly");
  clock_.Advance(std::chrono::seconds(1));
  a = ledger_.Grants(2, 1).grants(0);
  EXPECT_FALSE(a.exhausted());
  EXPECT_DOUBLE_EQ(a.usd(), 10.0);
  EXPECT_EQ(a.period(), "daily");  // the least left
}

TEST_F(BudgetLedgerTest, ARecordOfAnotherDayIsNotTodaysSpend) {
  ccrelay::v1::Users users;
  AddUser(&users, "alice")->mutable_policy()->mutable_budget()->set_usd_per_day(10);
  ledger_.SetUsers(users);
  EXPECT_DOUBLE_EQ(ledger_.Grants(0, 1).grants(0).usd(), 10.0);
  // Reported after midnight passed for the writer but before the clock moved: a request that
  // ended yesterday, and one stamped tomorrow (a data plane's clock ahead).
  ledger_.Committed({Record(1, "alice", kJan15 - 1, 4.0), Record(2, "alice", kJan16, 4.0)});
  EXPECT_DOUBLE_EQ(ledger_.Grants(2, 1).grants(0).usd(), 10.0);
}

TEST_F(BudgetLedgerTest, SetUsersReportsWhetherTheBudgetsChanged) {
  EXPECT_FALSE(ledger_.SetUsers(ccrelay::v1::Users()));
  ccrelay::v1::Users users = MonthlyUsd("alice", 50);
  AddUser(&users, "bob");  // no budget
  EXPECT_TRUE(ledger_.SetUsers(users));
  EXPECT_FALSE(ledger_.SetUsers(users));
  AddUser(&users, "carol")->mutable_policy()->add_allowed_models("claude-*");
  EXPECT_FALSE(ledger_.SetUsers(users));  // a user without a budget: nothing to grant
  users.mutable_users(0)->mutable_policy()->mutable_budget()->set_soft_fraction(0.9);
  EXPECT_TRUE(ledger_.SetUsers(users));
  users.mutable_users(0)->mutable_policy()->clear_budget();
  EXPECT_TRUE(ledger_.SetUsers(users));
  EXPECT_FALSE(ledger_.has_budgets());
  EXPECT_EQ(ledger_.Grants(0, 1).grants_size(), 0);
}

TEST_F(BudgetLedgerTest, AStoreThatCannotAnswerGrantsNothingRatherThanEverything) {
  ledger_.SetUsers(MonthlyUsd("alice", 50));
  store_.FailQueries(true);
  const ccrelay::v1::BudgetGrant a = ledger_.Grants(0, 1).grants(0);
  ASSERT_TRUE(a.has_usd());
  EXPECT_DOUBLE_EQ(a.usd(), 0.0);
  EXPECT_FALSE(a.exhausted());  // the retryable refusal, not the final one
  store_.FailQueries(false);
  EXPECT_DOUBLE_EQ(ledger_.Grants(0, 1).grants(0).usd(), 50.0);
}

}  // namespace
}  // namespace ccrelay::controlplane
