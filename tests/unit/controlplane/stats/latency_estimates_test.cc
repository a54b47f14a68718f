#include "controlplane/stats/latency_estimates.h"

#include <chrono>

#include "gtest/gtest.h"
#include "proto/stream.pb.h"

#include "tests/fakes/fake_clock.h"

namespace ccrelay::controlplane {
namespace {

using std::chrono::seconds;

v1::StatsReport Report(const std::string& provider, const std::string& model, uint64_t count,
                       uint64_t ttft_ms_each, uint64_t speed_count = 0,
                       uint64_t output_tokens = 0, uint64_t generation_ms = 0) {
  v1::StatsReport r;
  v1::LatencySamples* s = r.add_latency();
  s->set_provider(provider);
  s->set_model(model);
  s->set_count(count);
  s->set_ttft_ms_sum(count * ttft_ms_each);
  s->set_speed_count(speed_count);
  s->set_output_tokens(output_tokens);
  s->set_generation_ms(generation_ms);
  return r;
}

const v1::LatencyEstimate* Find(const v1::RoutingEstimates& e, const std::string& provider,
                                const std::string& model) {
  for (const v1::LatencyEstimate& l : e.latency()) {
    if (l.provider() == provider && l.model() == model) {
      return &l;
    }
  }
  return nullptr;
}

TEST(LatencyEstimatesTest, FoldsEveryDataPlanesSamplesPerModelAndPerProvider) {
  testing::FakeClock clock;
  LatencyEstimates est(clock);
  EXPECT_EQ(est.Current()->latency_size(), 0);
  EXPECT_EQ(est.generation(), 0u);
  est.AddReport(Report("a", "m1", 4, 1000, 2, 400, 4000));  // one data plane
  const uint64_t g1 = est.generation();
  EXPECT_GT(g1, 0u);
  auto e = est.Current();
  const v1::LatencyEstimate* m1 = Find(*e, "a", "m1");
  ASSERT_NE(m1, nullptr);
  EXPECT_DOUBLE_EQ(m1->ttft_ms(), 1000);
  EXPECT_DOUBLE_EQ(m1->output_tokens_per_s(), 100);
  EXPECT_EQ(m1->samples(), 4u);
  const v1::LatencyEstimate* all = Find(*e, "a", "");
  ASSERT_NE(all, nullptr);
  EXPECT_DOUBLE_EQ(all->ttft_ms(), 1000);
  EXPECT_EQ(est.Current(), e) << "unchanged: not built again";

  // Another data plane, a second later: one sample of 3000 moves it by a quarter.
  clock.Advance(seconds(1));
  est.AddReport(Report("a", "m1", 1, 3000));
  e = est.Current();
  m1 = Find(*e, "a", "m1");
  EXPECT_NEAR(m1->ttft_ms(), 1000 + 0.25 * 2000, 1e-6);
  EXPECT_DOUBLE_EQ(m1->output_tokens_per_s(), 100) << "no speed samples: unchanged";
  EXPECT_EQ(m1->samples(), 5u);
  // Four samples of 3000 at once weigh as four samples would.
  est.AddReport(Report("a", "m1", 4, 3000));
  m1 = Find(*est.Current(), "a", "m1");
  const double before = 1500;
  EXPECT_NEAR(m1->ttft_ms(), 3000 - (3000 - before) * 0.75 * 0.75 * 0.75 * 0.75, 1e-6);
  EXPECT_GT(est.generation(), g1);
}

TEST(LatencyEstimatesTest, ReportsWithoutSamplesChangeNothingAndOldFiguresAreForgotten) {
  testing::FakeClock clock;
  LatencyEstimates est(clock);
  est.AddReport(Report("a", "m1", 1, 100));
  const uint64_t g = est.generation();
  est.AddReport(v1::StatsReport());
  est.AddReport(Report("a", "m1", 0, 0));
  EXPECT_EQ(est.generation(), g);
  EXPECT_EQ(est.Current()->latency_size(), 2);
  clock.Advance(LatencyEstimates::kForgetAfter + seconds(1));
  est.AddReport(Report("b", "m2", 1, 100));
  auto e = est.Current();
  EXPECT_EQ(Find(*e, "a", "m1"), nullptr);
  EXPECT_NE(Find(*e, "b", "m2"), nullptr);
}

}  // namespace
}  // namespace ccrelay::controlplane
