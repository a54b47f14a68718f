#include "controlplane/budget/usage_writer.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

#include "proto/snapshot.pb.h"

#include "tests/fakes/fake_clock.h"
#include "tests/unit/controlplane/budget/fake_team_store.h"

namespace ccrelay::controlplane {
namespace {

using testing::FakeTeamStore;
using testing::Record;

constexpr int64_t kNow = ccrelay::testing::FakeClock::kStartUnixMs;
constexpr absl::Duration kWait = absl::Seconds(10);

// What a sync stream got from the writer, in order.
class FakeStream final : public UsageStream {
 public:
  struct Sent {
    std::optional<uint64_t> ack;
    std::shared_ptr<const ccrelay::v1::BudgetGrants> grants;
  };

  void SendUsageAck(uint64_t committed_seq) override {
    absl::MutexLock lock(&mu_);
    sent_.push_back({committed_seq, nullptr});
  }
  void SendBudgets(std::shared_ptr<const ccrelay::v1::BudgetGrants> grants) override {
    absl::MutexLock lock(&mu_);
    sent_.push_back({std::nullopt, std::move(grants)});
  }
  void AbortForUsage(std::string_view reason) override {
    absl::MutexLock lock(&mu_);
    aborted_ = std::string(reason);
  }

  // Waits until `n` messages were sent; returns them all.
  std::vector<Sent> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    std::pair<FakeStream*, size_t> arg(this, n);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](std::pair<FakeStream*, size_t>* a) {
                               return a->first->sent_.size() >= a->second;
                             },
                             &arg),
                         kWait);
    return sent_;
  }
  std::vector<Sent> sent() {
    absl::MutexLock lock(&mu_);
    return sent_;
  }
  std::string WaitAborted() {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](FakeStream* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
                               return !s->aborted_.empty();
                             },
                             this),
                         kWait);
    return aborted_;
  }
  // The usd share of the last grants to `user` (-1 none).
  double LastUsd(const std::string& user) {
    absl::MutexLock lock(&mu_);
    for (auto it = sent_.rbegin(); it != sent_.rend(); ++it) {
      if (it->grants != nullptr) {
        for (const ccrelay::v1::BudgetGrant& g : it->grants->grants()) {
          if (g.user() == user) {
            return g.usd();
          }
        }
        return -1;
      }
    }
    return -1;
  }

 private:
  absl::Mutex mu_;
  std::vector<Sent> sent_ ABSL_GUARDED_BY(mu_);
  std::string aborted_ ABSL_GUARDED_BY(mu_);
};

SnapshotConstSharedPtr WithMonthlyBudget(const std::string& user, double usd) {
  auto s = std::make_shared<ccrelay::v1::RoutingSnapshot>();
  ccrelay::v1::RelayUser* u = s->mutable_users()->add_users();
  u->set_name(user);
  u->mutable_policy()->mutable_budget()->set_usd_per_month(usd);
  return s;
}

// A batch of the data plane process `instance` (one per process; its seqs start at 1).
ccrelay::v1::UsageBatch Batch(std::vector<ccrelay::v1::UsageRecord> records,
                              const std::string& instance = "4f1c0e2a9b7d3356") {
  ccrelay::v1::UsageBatch b;
  b.set_instance(instance);
  for (auto& r : records) {
    *b.add_records() = std::move(r);
  }
  return b;
}

// Polls `done` until it holds (the writer works on its own thread).
template <typename F>
bool Eventually(F done) {
  const absl::Time deadline = absl::Now() + kWait;
  while (!done()) {
    if (absl::Now() > deadline) {
      return false;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

class UsageWriterTest : public ::testing::Test {
 protected:
  ccrelay::testing::FakeClock clock_;
  FakeTeamStore store_;
  UsageWriter writer_{store_, clock_};
};

TEST_F(UsageWriterTest, AckedWithTheHighestSeqOnlyAfterTheCommit) {
  FakeStream s;
  writer_.Open(&s, "dp-a");  // no budgets: no grants (a data plane that predates them sees none)
  ccrelay::v1::UsageBatch b =
      Batch({Record(1, "anonymous", kNow, 0.1), Record(2, "anonymous", kNow, 0.2),
             Record(3, "anonymous", kNow, 0.3)});
  writer_.Submit(&s, &b);
  const std::vector<FakeStream::Sent> sent = s.WaitFor(1);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].ack.has_value());
  EXPECT_EQ(*sent[0].ack, 3u);
  EXPECT_EQ(store_.rows(), 3u);

  // A resend of records already stored is skipped by the store (by seq) and acked again; no
  // budgets, so no grants follow the acks.
  ccrelay::v1::UsageBatch again =
      Batch({Record(3, "anonymous", kNow, 0.3), Record(4, "anonymous", kNow, 0.4)});
  writer_.Submit(&s, &again);
  ASSERT_EQ(s.WaitFor(2).size(), 2u);
  writer_.Stop();
  ASSERT_EQ(s.sent().size(), 2u);
  EXPECT_EQ(*s.sent()[1].ack, 4u);
  EXPECT_EQ(store_.rows(), 4u);
  const UsageWriterCounters c = writer_.counters();
  EXPECT_EQ(c.batches_committed, 2u);
  EXPECT_EQ(c.records_added, 4u);
  EXPECT_EQ(c.records_resent, 1u);
  EXPECT_EQ(c.requests_added, 4u);
  EXPECT_EQ(c.commit_failures, 0u);
  EXPECT_EQ(c.grant_sets_sent, 0u);
  writer_.Close(&s);
}

TEST_F(UsageWriterTest, AFailedCommitIsNeverAckedAndEndsTheStream) {
  FakeStream s;
  writer_.Open(&s, "dp-a");
  store_.FailCommits(true);
  ccrelay::v1::UsageBatch b = Batch({Record(1, "anonymous", kNow, 0.1)});
  writer_.Submit(&s, &b);
  EXPECT_EQ(s.WaitAborted(), "usage not committed; resend after reconnecting");

  // A later batch of the same stream is dropped: committed first, its seq would make the
  // failed batch look like a resend when it comes again, and it would be lost.
  store_.FailCommits(false);
  ccrelay::v1::UsageBatch next = Batch({Record(2, "anonymous", kNow, 0.1)});
  writer_.Submit(&s, &next);
  writer_.Close(&s);
  // The data plane reconnects and sends both again: both are stored, once.
  FakeStream again;
  writer_.Open(&again, "dp-a");
  ccrelay::v1::UsageBatch resend =
      Batch({Record(1, "anonymous", kNow, 0.1), Record(2, "anonymous", kNow, 0.1)});
  writer_.Submit(&again, &resend);
  ASSERT_EQ(again.WaitFor(1).size(), 1u);
  writer_.Stop();  // every queued batch handled
  for (const FakeStream::Sent& m : s.sent()) {
    EXPECT_FALSE(m.ack.has_value());
  }
  ASSERT_TRUE(again.sent()[0].ack.has_value());
  EXPECT_EQ(*again.sent()[0].ack, 2u);
  EXPECT_EQ(store_.rows(), 2u);
  EXPECT_EQ(writer_.counters().commit_failures, 1u);
  EXPECT_EQ(writer_.counters().batches_dropped, 1u);
}

TEST_F(UsageWriterTest, ARestartedDataPlaneIsANewSourceWhoseSeqsStartAgain) {
  FakeStream s;
  writer_.Open(&s, "dp-a");
  ccrelay::v1::UsageBatch b =
      Batch({Record(1, "anonymous", kNow, 0.1), Record(2, "anonymous", kNow, 0.1)}, "aaaa");
  writer_.Submit(&s, &b);
  ASSERT_EQ(s.WaitFor(1).size(), 1u);
  writer_.Close(&s);
  // The process restarted (same id, a new instance): its seq 1 is a new record.
  FakeStream restarted;
  writer_.Open(&restarted, "dp-a");
  ccrelay::v1::UsageBatch fresh = Batch({Record(1, "anonymous", kNow, 0.1)}, "bbbb");
  writer_.Submit(&restarted, &fresh);
  ASSERT_EQ(restarted.WaitFor(1).size(), 1u);
  writer_.Stop();
  EXPECT_EQ(store_.rows(), 3u);
}

TEST_F(UsageWriterTest, SharesFollowTheDataPlanesConnectedAndTheCommittedSpend) {
  writer_.OnSnapshot(WithMonthlyBudget("alice", 50));
  FakeStream a;
  writer_.Open(&a, "dp-a");
  ASSERT_TRUE(Eventually([&] { return a.LastUsd("alice") == 50.0; }));

  FakeStream b;
  writer_.Open(&b, "dp-b");  // a second data plane: both get half
  ASSERT_TRUE(Eventually([&] { return a.LastUsd("alice") == 25.0; }));
  ASSERT_TRUE(Eventually([&] { return b.LastUsd("alice") == 25.0; }));

  // A second stream of the same data plane (a reconnect overlapping the old stream) is no
  // third data plane.
  FakeStream b2;
  writer_.Open(&b2, "dp-b");
  ASSERT_TRUE(Eventually([&] { return b2.LastUsd("alice") == 25.0; }));

  // dp-a reports $10: after its ack, its grant carries its committed seq and the new share.
  ccrelay::v1::UsageBatch batch =
      Batch({Record(1, "alice", kNow, 6.0), Record(2, "alice", kNow, 4.0)});
  writer_.Submit(&a, &batch);
  ASSERT_TRUE(Eventually([&] { return a.LastUsd("alice") == 20.0; }));
  const std::vector<FakeStream::Sent> sent = a.sent();
  ASSERT_GE(sent.size(), 2u);
  ASSERT_TRUE(sent[sent.size() - 2].ack.has_value());  // the ack comes first
  EXPECT_EQ(*sent[sent.size() - 2].ack, 2u);
  EXPECT_EQ(sent.back().grants->grants(0).committed_seq(), 2u);

  // The budget changes: every stream gets new grants at once.
  writer_.OnSnapshot(WithMonthlyBudget("alice", 90));
  ASSERT_TRUE(Eventually([&] { return b.LastUsd("alice") == 40.0; }));  // (90 - 10) / 2
  EXPECT_TRUE(Eventually([&] { return a.LastUsd("alice") == 40.0; }));
  const std::vector<FakeStream::Sent> a_now = a.sent();
  EXPECT_EQ(a_now.back().grants->grants(0).committed_seq(), 2u);
  const std::vector<FakeStream::Sent> b_now = b.sent();
  EXPECT_EQ(b_now.back().grants->grants(0).committed_seq(), 0u);  // nothing of dp-b committed

  // dp-b's streams end: dp-a alone gets everything left.
  writer_.Close(&b);
  writer_.Close(&b2);
  ASSERT_TRUE(Eventually([&] { return a.LastUsd("alice") == 80.0; }));
  writer_.Close(&a);
}

TEST_F(UsageWriterTest, BudgetsRemovedSendAnEmptySetOnce) {
  writer_.OnSnapshot(WithMonthlyBudget("alice", 50));
  FakeStream a;
  writer_.Open(&a, "dp-a");
  ASSERT_TRUE(Eventually([&] { return a.LastUsd("alice") == 50.0; }));
  writer_.OnSnapshot(std::make_shared<ccrelay::v1::RoutingSnapshot>());
  ASSERT_TRUE(Eventually([&] {
    const auto sent = a.sent();
    return sent.back().grants != nullptr && sent.back().grants->grants_size() == 0;
  }));
  const size_t before = a.sent().size();
  ccrelay::v1::UsageBatch batch = Batch({Record(1, "alice", kNow, 1.0)});
  writer_.Submit(&a, &batch);
  ASSERT_EQ(a.WaitFor(before + 1).size(), before + 1);
  writer_.Stop();
  EXPECT_EQ(a.sent().size(), before + 1);  // the ack; no grants after it
  EXPECT_TRUE(a.sent().back().ack.has_value());
}

TEST_F(UsageWriterTest, StopCommitsWhatIsQueued) {
  FakeStream s;
  writer_.Open(&s, "dp-a");
  for (int i = 0; i < 20; ++i) {
    ccrelay::v1::UsageBatch b =
        Batch({Record(static_cast<uint64_t>(i + 1), "anonymous", kNow, 0.1)});
    writer_.Submit(&s, &b);
  }
  writer_.Close(&s);
  writer_.Stop();
  EXPECT_EQ(store_.rows(), 20u);
}

// The same path on the real SQLite store: a resend after a lost ack is stored and counted once.
TEST(UsageWriterSqliteTest, AResendIsStoredAndGrantedOnce) {
  ccrelay::testing::FakeClock clock;
  absl::StatusOr<std::unique_ptr<TeamStore>> store = TeamStore::Open(":memory:");
  ASSERT_TRUE(store.ok()) << store.status();
  UsageWriter writer(**store, clock);
  writer.OnSnapshot(WithMonthlyBudget("alice", 50));
  FakeStream a;
  writer.Open(&a, "dp-a");
  ASSERT_TRUE(Eventually([&] { return a.LastUsd("alice") == 50.0; }));
  ccrelay::v1::UsageBatch first = Batch({Record(1, "alice", kNow, 4.0, 100, 20)});
  writer.Submit(&a, &first);
  ASSERT_TRUE(Eventually([&] { return a.LastUsd("alice") == 46.0; }));
  // The ack was lost: the data plane reconnects and sends r1 again with r2.
  writer.Close(&a);
  FakeStream again;
  writer.Open(&again, "dp-a");
  ccrelay::v1::UsageBatch resend =
      Batch({Record(1, "alice", kNow, 4.0, 100, 20), Record(2, "alice", kNow, 6.0, 10, 5)});
  writer.Submit(&again, &resend);
  ASSERT_TRUE(Eventually([&] { return again.LastUsd("alice") == 40.0; }));
  writer.Stop();
  const absl::StatusOr<Spend> spend = (*store)->SpendOf("alice", 0, kNow + 1);
  ASSERT_TRUE(spend.ok());
  EXPECT_EQ(spend->requests, 2u);
  EXPECT_DOUBLE_EQ(spend->usd, 10.0);
  EXPECT_EQ(spend->tokens, 135u);
  const std::vector<FakeStream::Sent> sent = again.sent();
  bool acked = false;
  for (const FakeStream::Sent& m : sent) {
    acked = acked || (m.ack.has_value() && *m.ack == 2);
  }
  EXPECT_TRUE(acked);
}

}  // namespace
}  // namespace ccrelay::controlplane
