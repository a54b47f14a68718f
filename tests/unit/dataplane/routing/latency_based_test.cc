#include "dataplane/routing/strategies/latency_based.h"

#include <chrono>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/snapshot.pb.h"

#include "dataplane/routing/explanation.h"
#include "dataplane/routing/route_request.h"
#include "dataplane/routing/router.h"
#include "dataplane/routing/routing_table.h"
#include "tests/fakes/fake_clock.h"

namespace ccrelay::routing {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kModel = "claude-sonnet-4-5";

v1::RoutingSnapshot Providers(int n, double explore_share) {
  v1::RoutingSnapshot s;
  s.set_version(1);
  s.mutable_server()->set_listen("127.0.0.1:0");
  for (int i = 0; i < n; ++i) {
    auto* p = s.add_providers();
    p->set_name(std::string(1, static_cast<char>('a' + i)));
    p->set_type("anthropic");
    p->set_enabled(true);
    p->set_base_url("http://127.0.0.1:" + std::to_string(9001 + i));
  }
  s.mutable_routing()->set_strategy("latency-based");
  s.mutable_routing()->mutable_latency_based()->set_explore_share(explore_share);
  return s;
}

class LatencyBasedTest : public ::testing::Test {
 protected:
  void Compile(int n, double explore_share) {
    auto t = CompileRoutingTable(Providers(n, explore_share), states_);
    ASSERT_TRUE(t.ok()) << t.status();
    table_ = *t;
    ASSERT_EQ(table_->strategy->Name(), "latency-based");
    eligible_.clear();
    for (int i = 0; i < n; ++i) {
      eligible_.push_back(static_cast<uint32_t>(i));
    }
  }
  // `count` answers of provider `p` with this time to first token and speed (tokens/s).
  void Feed(uint32_t p, double ttft_ms, double tokens_per_s, int count = 3) {
    for (int i = 0; i < count; ++i) {
      state::LatencySample s;
      s.ttft_ms = ttft_ms;
      s.output_tokens = 1000;
      s.generation_ms = 1000.0 * 1000 / tokens_per_s;
      table_->providers[p].state->latency.Add(kModel, s, clock_.Now());
      clock_.Advance(milliseconds(10));
    }
  }
  std::vector<uint32_t> Rank(Explanation* explain = nullptr, int64_t max_tokens = 0) {
    RouteRequest r;
    r.model = kModel;
    r.max_tokens = max_tokens;
    std::vector<uint32_t> out;
    strategy_.Rank(*table_, r, eligible_, &out, explain);
    return out;
  }

  testing::FakeClock clock_;
  state::StateRegistry states_;
  RoutingTableConstSharedPtr table_;
  std::vector<uint32_t> eligible_;
  LatencyBasedStrategy strategy_{&clock_};
};

TEST_F(LatencyBasedTest, LowestExpectedTimeFirst) {
  Compile(3, 0);
  // Expected time for 500 output tokens: a 1000 + 5000, b 300 + 10000, c 2000 + 2500.
  Feed(0, 1000, 100);
  Feed(1, 300, 50);
  Feed(2, 2000, 200);
  EXPECT_EQ(Rank(), (std::vector<uint32_t>{2, 0, 1}));
  // A short answer (max_tokens 10): time to first token dominates.
  EXPECT_EQ(Rank(nullptr, 10), (std::vector<uint32_t>{1, 0, 2}));
}

TEST_F(LatencyBasedTest, NoDataIsTriedFirstUntilItHasAFewSamples) {
  Compile(2, 0);
  Feed(0, 100, 100);
  Explanation ex;
  EXPECT_EQ(Rank(&ex), (std::vector<uint32_t>{1, 0}));
  ASSERT_EQ(ex.ranked.size(), 2u);
  EXPECT_EQ(ex.ranked[0].note, "no data yet: tried first");
  EXPECT_EQ(ex.ranked[1].note, "local");
  EXPECT_NEAR(ex.ranked[1].ttft_ms, 100, 1e-6);
  EXPECT_NEAR(ex.ranked[1].output_tokens_per_s, 100, 1e-6);
  EXPECT_NEAR(ex.ranked[1].score, 100 + 5000, 1e-6);
  Feed(1, 5000, 100, 2);
  EXPECT_EQ(Rank().front(), 1u) << "two samples are not yet a few";
  Feed(1, 5000, 100, 1);
  EXPECT_EQ(Rank().front(), 0u);
}

TEST_F(LatencyBasedTest, TiesWithinTheToleranceTakeTurns) {
  Compile(2, 0);
  Feed(0, 1000, 100);  // 6000 ms
  Feed(1, 1300, 100);  // 6300 ms: within 10%
  const uint32_t first = Rank().front();
  EXPECT_NE(Rank().front(), first);
  EXPECT_EQ(Rank().front(), first);
}

TEST_F(LatencyBasedTest, ExplorationTakesItsShareInTurn) {
  Compile(3, 0.1);
  Feed(0, 100, 100);
  Feed(1, 1000, 100);
  Feed(2, 1500, 100);
  int first[3] = {0, 0, 0};
  for (int i = 0; i < 1000; ++i) {
    ++first[Rank().front()];
  }
  EXPECT_EQ(first[0], 900);
  EXPECT_EQ(first[1], 50);
  EXPECT_EQ(first[2], 50);
  // Explain does not take a turn, and says when the next request explores.
  Explanation ex;
  for (int i = 0; i < 9; ++i) {
    Rank();
  }
  Rank(&ex);
  EXPECT_NE(ex.ranked[0].provider, 0u);
  EXPECT_EQ(ex.ranked[0].note, "explored; local");
  EXPECT_NE(Rank().front(), 0u);
}

TEST_F(LatencyBasedTest, ExploreShareZeroNeverExplores) {
  Compile(2, 0);
  Feed(0, 100, 100);
  Feed(1, 1000, 100);
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(Rank().front(), 0u);
  }
}

TEST_F(LatencyBasedTest, AnOutlierIsSetAsideAndComesBackWhenFast) {
  Compile(3, 0);
  Feed(0, 500, 100);   // 5500
  Feed(1, 800, 100);   // 5800 (a tie with a)
  Feed(2, 2000, 100);  // 7000
  Explanation ex;
  Rank(&ex);
  EXPECT_EQ(ex.ranked[2].provider, 2u);
  EXPECT_EQ(ex.ranked[2].note, "local");
  // c gets slow: above 3x the best and more than 2 s above it.
  Feed(2, 60000, 100, 6);
  ex = Explanation();
  EXPECT_EQ(Rank(&ex).back(), 2u);
  EXPECT_EQ(ex.ranked[2].note, "outlier: set aside; local");
  // Fast again: its samples (from exploration) bring it back.
  Feed(2, 100, 1000, 12);
  EXPECT_EQ(Rank().front(), 2u);
}

TEST_F(LatencyBasedTest, SharedEstimatesRankADataPlaneWithoutSamples) {
  Compile(2, 0);
  table_->providers[0].state->latency.SetShared(kModel, 3000, 50, 40, 1);
  table_->providers[1].state->latency.SetShared(kModel, 500, 50, 40, 1);
  Explanation ex;
  EXPECT_EQ(Rank(&ex), (std::vector<uint32_t>{1, 0}));
  EXPECT_EQ(ex.ranked[0].note, "shared");
  EXPECT_EQ(ex.ranked[1].note, "shared") << "13000 vs 10500: not an outlier";
}

TEST_F(LatencyBasedTest, ASpeedlessProviderTakesTheOthersMeanSpeed) {
  Compile(2, 0);
  Feed(0, 1000, 100);
  for (int i = 0; i < 3; ++i) {
    table_->providers[1].state->latency.Add(kModel, state::LatencySample{900, -1, -1},
                                            clock_.Now());
  }
  Explanation ex;
  Rank(&ex);
  ASSERT_EQ(ex.ranked.size(), 2u);
  for (const RankedProvider& r : ex.ranked) {
    if (r.provider == 1) {
      EXPECT_NEAR(r.score, 900 + 5000, 1e-6);
    }
  }
}

TEST_F(LatencyBasedTest, AReloadKeepsTheEstimates) {
  Compile(2, 0);
  Feed(0, 100, 100);
  Feed(1, 3000, 100);
  Compile(2, 0);  // a new table from the same state registry (hot reload)
  EXPECT_EQ(Rank(), (std::vector<uint32_t>{0, 1}));
  EXPECT_NEAR(table_->providers[1].state->latency.Estimate(
                  state::LatencyTracker::ModelKey(kModel), clock_.Now()).ttft_ms,
              3000, 1e-6);
}

TEST_F(LatencyBasedTest, LearnTakesCompleteAnswersAndWaitsWithoutAnAnswer) {
  Compile(1, 0);
  const state::LatencyTracker& t = table_->providers[0].state->latency;
  const uint64_t key = state::LatencyTracker::ModelKey(kModel);
  const auto t0 = clock_.Now();
  Outcome o;
  o.provider = 0;
  o.model = kModel;
  o.status = 200;
  o.stream = true;
  o.complete = true;
  o.sent = t0;
  o.first_token = t0 + milliseconds(400);
  o.end = t0 + milliseconds(2400);
  o.output_tokens = 200;
  Learn(*table_, o);
  state::LatencyEstimate e = t.Estimate(key, clock_.Now());
  EXPECT_NEAR(e.ttft_ms, 400, 1e-6);
  EXPECT_NEAR(e.tokens_per_s, 100, 1e-6);

  Outcome failed = o;  // an error answer, a cut stream, count_tokens: nothing
  failed.status = 500;
  failed.first_token = t0 + milliseconds(5);
  Learn(*table_, failed);
  failed = o;
  failed.complete = false;
  failed.first_token = t0 + milliseconds(5);
  Learn(*table_, failed);
  failed = o;
  failed.count_tokens = true;
  failed.first_token = t0 + milliseconds(5);
  Learn(*table_, failed);
  EXPECT_EQ(t.Estimate(key, clock_.Now()).samples, 1u);

  Outcome timeout = o;  // no byte of an answer after 10 s: at least that
  timeout.status = 504;
  timeout.first_token = {};
  timeout.end = t0 + milliseconds(10400);
  Learn(*table_, timeout);
  e = t.Estimate(key, clock_.Now());
  EXPECT_EQ(e.samples, 2u);
  EXPECT_GT(e.ttft_ms, 400 + 0.2 * 10000);
}

}  // namespace
}  // namespace ccrelay::routing
