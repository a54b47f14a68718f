// The DataPlaneSync client against a fake control plane on 127.0.0.1:0 (Envoy's ADS tests):
// send a snapshot, then assert that the next message is ACK(new version) or NACK(last good
// version, error), always echoing the nonce.
#include "dataplane/subscription/snapshot_subscription.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include <grpcpp/grpcpp.h>

#include "proto/stream.grpc.pb.h"
#include "proto/stream.pb.h"
#include "proto/team.pb.h"
#include "tests/fakes/fake_sync_control_plane.h"

namespace ccrelay::subscription {
namespace {

using std::chrono::milliseconds;
using v1::ControlPlaneMessage;
using v1::DataPlaneMessage;

constexpr milliseconds kWait{5000};

// Applies every snapshot except those whose version is listed in `reject`.
class FakeApplier : public SnapshotApplier {
 public:
  absl::Status Apply(const v1::RoutingSnapshot& snapshot) override {
    std::lock_guard<std::mutex> lock(mu_);
    applied_.push_back(snapshot.version());
    if (snapshot.version() == reject_) {
      return absl::InvalidArgumentError("provider x: ca_file /nope: cannot load CA bundle");
    }
    version_ = snapshot.version();
    return absl::OkStatus();
  }
  uint64_t version() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return version_;
  }
  void TakeStats(v1::StatsReport* report) override {
    std::lock_guard<std::mutex> lock(mu_);
    report->set_requests(++takes_);
    report->set_active_streams(3);
  }

  void ApplyEstimates(const v1::RoutingEstimates& estimates) override {
    std::lock_guard<std::mutex> lock(mu_);
    estimates_.push_back(estimates.latency_size());
  }
  std::vector<int> Estimates() const {
    std::lock_guard<std::mutex> lock(mu_);
    return estimates_;
  }

  // Usage: one record per TakeUsage while `usage_left_` lasts; rewinds, acks, grants recorded.
  bool TakeUsage(v1::UsageBatch* batch) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (usage_left_ == 0) {
      return false;
    }
    --usage_left_;
    batch->add_records()->set_seq(++usage_seq_);
    return true;
  }
  void RewindUsage() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++rewinds_;
  }
  void AckUsage(uint64_t committed_seq) override {
    std::lock_guard<std::mutex> lock(mu_);
    acked_ = committed_seq;
  }
  void ApplyBudgets(const v1::BudgetGrants& grants) override {
    std::lock_guard<std::mutex> lock(mu_);
    grants_ += grants.grants_size();
  }
  void AddUsage(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    usage_left_ += n;
  }
  int rewinds() const {
    std::lock_guard<std::mutex> lock(mu_);
    return rewinds_;
  }
  uint64_t acked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  int grants() const {
    std::lock_guard<std::mutex> lock(mu_);
    return grants_;
  }

  void SetReject(uint64_t v) {
    std::lock_guard<std::mutex> lock(mu_);
    reject_ = v;
  }
  std::vector<uint64_t> Applied() const {
    std::lock_guard<std::mutex> lock(mu_);
    return applied_;
  }

 private:
  mutable std::mutex mu_;
  uint64_t version_ = 0;
  uint64_t reject_ = 0;
  uint64_t takes_ = 0;
  std::vector<uint64_t> applied_;
  std::vector<int> estimates_;  // latency entries of each RoutingEstimates applied
  int usage_left_ = 0;
  uint64_t usage_seq_ = 0;
  int rewinds_ = 0;
  uint64_t acked_ = 0;
  int grants_ = 0;
};

using FakeControlPlane = ccrelay::testing::FakeSyncControlPlane;

SubscriptionOptions Options() {
  SubscriptionOptions o;
  o.id = "dp-test";
  o.control_plane = "fake";
  o.labels = {{"zone", "z1"}};
  o.listen_address = "127.0.0.1:18787";
  o.admin_address = "127.0.0.1:18789";
  o.token = "tok-123";
  o.stats_interval = milliseconds(3600000);  // stats only where a test asks for them
  o.backoff_initial = milliseconds(1);
  o.backoff_max = milliseconds(20);
  return o;
}

ChannelFactory FactoryFor(const FakeControlPlane& cp) {
  const std::string addr = cp.Address();
  return [addr] { return grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()); };
}

TEST(SnapshotSubscriptionTest, HelloThenAckOfAnAppliedSnapshot) {
  FakeControlPlane cp;
  FakeApplier applier;
  SnapshotSubscription sub(Options(), FactoryFor(cp), applier);
  sub.Start();

  auto hello = cp.WaitForMessage(0, 1, kWait);
  ASSERT_TRUE(hello.has_value());
  ASSERT_TRUE(hello->has_hello());
  EXPECT_EQ(hello->hello().id(), "dp-test");
  EXPECT_EQ(hello->hello().build_version(), CCR_VERSION);
  EXPECT_EQ(hello->hello().labels().at("zone"), "z1");
  EXPECT_EQ(hello->hello().listen_address(), "127.0.0.1:18787");
  EXPECT_EQ(hello->hello().admin_address(), "127.0.0.1:18789");
  EXPECT_EQ(hello->hello().last_applied_version(), 0u);
  EXPECT_EQ(cp.Authorization(0), "Bearer tok-123");

  ASSERT_TRUE(cp.Send(0, 5, "n-5"));
  size_t seen = 1;
  auto ack = cp.WaitForNonStats(0, &seen, kWait);
  ASSERT_TRUE(ack.has_value());
  ASSERT_TRUE(ack->has_ack()) << ack->DebugString();
  EXPECT_EQ(ack->ack().version(), 5u);
  EXPECT_EQ(ack->ack().nonce(), "n-5");
  EXPECT_EQ(applier.Applied(), std::vector<uint64_t>{5});
  EXPECT_TRUE(sub.WaitForFirstSnapshot(kWait).ok());
  EXPECT_TRUE(sub.status().connected);
}

TEST(SnapshotSubscriptionTest, RoutingEstimatesAreAppliedAndNotAnswered) {
  FakeControlPlane cp;
  FakeApplier applier;
  SnapshotSubscription sub(Options(), FactoryFor(cp), applier);
  sub.Start();
  ASSERT_TRUE(cp.WaitForMessage(0, 1, kWait).has_value());
  ControlPlaneMessage estimates;
  for (const char* provider : {"a", "b"}) {
    v1::LatencyEstimate* e = estimates.mutable_estimates()->add_latency();
    e->set_provider(provider);
    e->set_ttft_ms(250);
    e->set_samples(9);
  }
  ASSERT_TRUE(cp.Write(0, estimates));
  ASSERT_TRUE(cp.Send(0, 5, "n-5"));
  // The estimates got no answer of their own: the next message is the snapshot's ACK.
  size_t seen = 1;
  const auto next = cp.WaitForNonStats(0, &seen, kWait);
  ASSERT_TRUE(next.has_value() && next->has_ack());
  EXPECT_EQ(next->ack().version(), 5u);
  EXPECT_EQ(applier.Estimates(), std::vector<int>{2});
}

TEST(SnapshotSubscriptionTest, NackNamesTheLastGoodVersionAndTheError) {
  FakeControlPlane cp;
  FakeApplier applier;
  applier.SetReject(6);
  SnapshotSubscription sub(Options(), FactoryFor(cp), applier);
  sub.Start();
  ASSERT_TRUE(cp.WaitForMessage(0, 1, kWait).has_value());
  ASSERT_TRUE(cp.Send(0, 5, "a"));
  size_t seen = 1;
  auto ack = cp.WaitForNonStats(0, &seen, kWait);
  ASSERT_TRUE(ack.has_value() && ack->has_ack());

  ASSERT_TRUE(cp.Send(0, 6, "b"));
  auto nack = cp.WaitForNonStats(0, &seen, kWait);
  ASSERT_TRUE(nack.has_value());
  ASSERT_TRUE(nack->has_nack()) << nack->DebugString();
  EXPECT_EQ(nack->nack().rejected_version(), 6u);
  EXPECT_EQ(nack->nack().last_good_version(), 5u);
  EXPECT_EQ(nack->nack().nonce(), "b");
  EXPECT_NE(nack->nack().error_detail().find("ca_file"), std::string::npos);
  EXPECT_EQ(applier.version(), 5u);
  EXPECT_EQ(sub.status().last_rejected_version, 6u);
  EXPECT_NE(sub.status().last_nack_error.find("ca_file"), std::string::npos);

  // The next good one is ACKed again.
  ASSERT_TRUE(cp.Send(0, 7, "c"));
  auto again = cp.WaitForNonStats(0, &seen, kWait);
  ASSERT_TRUE(again.has_value() && again->has_ack());
  EXPECT_EQ(again->ack().version(), 7u);
  EXPECT_EQ(again->ack().nonce(), "c");
}

TEST(SnapshotSubscriptionTest, FirstSnapshotRejectedIsReportedToTheWaiter) {
  FakeControlPlane cp;
  FakeApplier applier;
  applier.SetReject(1);
  SnapshotSubscription sub(Options(), FactoryFor(cp), applier);
  sub.Start();
  ASSERT_TRUE(cp.WaitForMessage(0, 1, kWait).has_value());
  ASSERT_TRUE(cp.Send(0, 1, "x"));
  const absl::Status st = sub.WaitForFirstSnapshot(kWait);
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  size_t seen = 1;
  auto nack = cp.WaitForNonStats(0, &seen, kWait);
  ASSERT_TRUE(nack.has_value() && nack->has_nack());
  EXPECT_EQ(nack->nack().last_good_version(), 0u);
}

TEST(SnapshotSubscriptionTest, ReconnectsWithHelloCarryingTheLastAppliedVersion) {
  FakeControlPlane cp;
  FakeApplier applier;
  SnapshotSubscription sub(Options(), FactoryFor(cp), applier);
  sub.Start();
  ASSERT_TRUE(cp.WaitForMessage(0, 1, kWait).has_value());
  ASSERT_TRUE(cp.Send(0, 9, "n9"));
  size_t seen = 1;
  ASSERT_TRUE(cp.WaitForNonStats(0, &seen, kWait).has_value());

  cp.Cancel(0);  // the stream breaks
  ASSERT_TRUE(cp.WaitForStreamEnded(0, kWait));
  auto hello = cp.WaitForMessage(1, 1, kWait);
  ASSERT_TRUE(hello.has_value()) << "no second stream";
  ASSERT_TRUE(hello->has_hello());
  EXPECT_EQ(hello->hello().last_applied_version(), 9u);
  EXPECT_EQ(hello->hello().id(), "dp-test");
  EXPECT_EQ(sub.status().streams_started, 2u);
  // The new stream works as the first one did.
  ASSERT_TRUE(cp.Send(1, 10, "n10"));
  size_t seen1 = 1;
  auto ack = cp.WaitForNonStats(1, &seen1, kWait);
  ASSERT_TRUE(ack.has_value() && ack->has_ack());
  EXPECT_EQ(ack->ack().version(), 10u);
}

TEST(SnapshotSubscriptionTest, KeepsRetryingWhileNoControlPlaneAnswers) {
  // Nothing listens on the first address: every attempt fails; the subscription keeps trying
  // (a fresh channel each time) and connects once the factory points at a live one.
  FakeControlPlane cp;
  FakeApplier applier;
  std::mutex mu;
  int attempts = 0;
  std::condition_variable cv;
  const std::string live = cp.Address();
  ChannelFactory factory = [&]() -> std::shared_ptr<grpc::Channel> {
    std::lock_guard<std::mutex> lock(mu);
    ++attempts;
    cv.notify_all();
    const std::string addr = attempts < 4 ? std::string("127.0.0.1:1") : live;
    return grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  };
  SnapshotSubscription sub(Options(), factory, applier);
  sub.Start();
  auto hello = cp.WaitForMessage(0, 1, kWait);
  ASSERT_TRUE(hello.has_value());
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(attempts, 4);
}

// Options with a stats tick every 5 ms (stats reports, usage batches).
SubscriptionOptions FastTicks() {
  SubscriptionOptions o = Options();
  o.stats_interval = milliseconds(5);
  return o;
}

TEST(SnapshotSubscriptionTest, SendsStatsReportsWhileConnected) {
  FakeControlPlane cp;
  FakeApplier applier;
  SnapshotSubscription sub(FastTicks(), FactoryFor(cp), applier);
  sub.Start();
  ASSERT_TRUE(cp.WaitForMessage(0, 1, kWait).has_value());
  ASSERT_TRUE(cp.Send(0, 1, "n1"));  // connected once a message arrived
  std::optional<DataPlaneMessage> stats;
  for (size_t n = 2; n < 50 && !(stats.has_value() && stats->has_stats()); ++n) {
    stats = cp.WaitForMessage(0, n, kWait);
    ASSERT_TRUE(stats.has_value());
  }
  ASSERT_TRUE(stats->has_stats());
  EXPECT_GE(stats->stats().requests(), 1u);
  EXPECT_EQ(stats->stats().active_streams(), 3);
}

// Waits until `done` holds (polling; no timed assertion).
template <typename Fn>
bool Eventually(Fn done) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

TEST(SnapshotSubscriptionTest, UsageGoesWithTheStatsTickAcksAndGrantsReachTheApplier) {
  FakeControlPlane cp;
  FakeApplier applier;
  applier.AddUsage(2);
  SnapshotSubscription sub(FastTicks(), FactoryFor(cp), applier);
  sub.Start();
  ASSERT_TRUE(cp.WaitForMessage(0, 1, kWait).has_value());
  EXPECT_EQ(applier.rewinds(), 1) << "a new stream starts from the first unacknowledged record";
  ASSERT_TRUE(cp.Send(0, 1, "n1"));
  const std::vector<v1::UsageRecord> usage = cp.WaitForUsage(0, 2, kWait);
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[0].seq(), 1u);
  EXPECT_EQ(usage[1].seq(), 2u);

  ControlPlaneMessage ack;
  ack.mutable_usage_ack()->set_committed_seq(2);
  ASSERT_TRUE(cp.Write(0, ack));
  ControlPlaneMessage grants;
  grants.mutable_budgets()->add_grants()->set_user("alice");
  ASSERT_TRUE(cp.Write(0, grants));
  EXPECT_TRUE(Eventually([&] { return applier.acked() == 2 && applier.grants() == 1; }));

  cp.Cancel(0);
  ASSERT_TRUE(cp.WaitForMessage(1, 1, kWait).has_value());
  EXPECT_EQ(applier.rewinds(), 2);
}

TEST(SnapshotSubscriptionTest, StopEndsTheStreamAndIsIdempotent) {
  FakeControlPlane cp;
  FakeApplier applier;
  SnapshotSubscription sub(Options(), FactoryFor(cp), applier);
  sub.Start();
  ASSERT_TRUE(cp.WaitForMessage(0, 1, kWait).has_value());
  sub.Stop();
  EXPECT_TRUE(cp.WaitForStreamEnded(0, kWait));
  sub.Stop();
  EXPECT_FALSE(sub.status().connected);
}

}  // namespace
}  // namespace ccrelay::subscription
