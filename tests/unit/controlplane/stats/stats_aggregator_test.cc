#include "controlplane/stats/stats_aggregator.h"

#include <chrono>

#include "gtest/gtest.h"

#include "proto/management.pb.h"
#include "proto/stream.pb.h"

#include "tests/fakes/fake_clock.h"

namespace ccrelay::controlplane {
namespace {

using std::chrono::seconds;

ccrelay::v1::StatsReport Report(const std::string& provider, const std::string& fp,
                                uint64_t requests, uint64_t in_tokens, uint64_t out_tokens,
                                uint64_t errors = 0) {
  ccrelay::v1::StatsReport r;
  r.set_requests(requests);
  ccrelay::v1::KeyStats* k = r.add_keys();
  k->set_provider(provider);
  k->set_key_fingerprint(fp);
  k->set_requests(requests);
  k->set_errors(errors);
  k->set_input_tokens(in_tokens);
  k->set_output_tokens(out_tokens);
  k->set_latency_ms_sum(100 * requests);
  k->set_latency_count(requests);
  return r;
}

ccrelay::v1::HealthReport Health(const std::string& provider, const std::string& fp,
                                 const std::string& state, int64_t until = 0) {
  ccrelay::v1::HealthReport r;
  ccrelay::v1::HealthObservation* o = r.add_observations();
  o->set_provider(provider);
  o->set_key_fingerprint(fp);
  o->set_state(state);
  o->set_reason("because");
  o->set_until_unix_ms(until);
  return r;
}

TEST(StatsAggregatorTest, SumsDeltasFromEveryDataPlane) {
  testing::FakeClock clock;
  StatsAggregator agg(clock);
  agg.AddReport("dp-1", Report("anthropic", "aaaa", 3, 100, 10, 1));
  agg.AddReport("dp-2", Report("anthropic", "aaaa", 2, 50, 5));
  agg.AddReport("dp-2", Report("anthropic", "bbbb", 1, 7, 1));
  agg.AddReport("dp-1", Report("zai", "cccc", 4, 1, 1));

  const KeyUsage a = agg.Key("anthropic", "aaaa");
  EXPECT_EQ(a.requests, 5u);
  EXPECT_EQ(a.errors, 1u);
  EXPECT_EQ(a.input_tokens, 150u);
  EXPECT_EQ(a.output_tokens, 15u);
  EXPECT_EQ(agg.Provider("anthropic").requests, 6u);
  EXPECT_EQ(agg.Provider("zai").requests, 4u);
  EXPECT_EQ(agg.Provider("nobody").requests, 0u);

  ccrelay::v1::StatsSnapshot s;
  agg.FillTotals(&s);
  EXPECT_EQ(s.requests(), 10u);
  EXPECT_EQ(s.errors(), 1u);
  EXPECT_EQ(s.input_tokens(), 158u);
  ASSERT_EQ(s.data_planes_size(), 2);
  EXPECT_EQ(s.data_planes(0).data_plane(), "dp-1");
  EXPECT_EQ(s.data_planes(0).requests(), 7u);
  EXPECT_EQ(s.data_planes(1).requests(), 3u);
}

TEST(StatsAggregatorTest, RatesCoverTheLastMinuteOnly) {
  testing::FakeClock clock;
  StatsAggregator agg(clock);
  agg.AddReport("dp-1", Report("p", "k", 10, 1000, 100));
  clock.Advance(seconds(30));
  agg.AddReport("dp-2", Report("p", "k", 5, 500, 50));
  KeyUsage u = agg.Key("p", "k");
  EXPECT_DOUBLE_EQ(u.rpm_used, 15.0);
  EXPECT_DOUBLE_EQ(u.tpm_used, 1650.0);
  clock.Advance(seconds(31));  // the first report is now 61 s old
  u = agg.Key("p", "k");
  EXPECT_DOUBLE_EQ(u.rpm_used, 5.0);
  EXPECT_DOUBLE_EQ(u.tpm_used, 550.0);
  EXPECT_EQ(u.requests, 15u);  // totals stay
  clock.Advance(seconds(3600));
  EXPECT_DOUBLE_EQ(agg.Key("p", "k").rpm_used, 0.0);
}

TEST(StatsAggregatorTest, RecentIsCappedAndNewestFirst) {
  testing::FakeClock clock;
  StatsAggregator agg(clock);
  for (int batch = 0; batch < 3; ++batch) {
    ccrelay::v1::StatsReport r;
    for (int i = 0; i < 50; ++i) {
      ccrelay::v1::RecentRequest* rr = r.add_recent();  // oldest first, as data planes send
      rr->set_request_id("req_" + std::to_string(batch * 50 + i));
      rr->set_status(200);
      rr->set_user(i % 2 == 0 ? "alice" : "");
    }
    agg.AddReport(batch == 2 ? "dp-b" : "dp-a", r);
  }
  ccrelay::v1::StatsSnapshot s;
  agg.FillTotals(&s);
  ASSERT_EQ(s.recent_size(), static_cast<int>(StatsAggregator::kMaxRecent));
  EXPECT_EQ(s.recent(0).request_id(), "req_149");
  EXPECT_EQ(s.recent(0).data_plane(), "dp-b");
  EXPECT_EQ(s.recent(99).request_id(), "req_50");
  EXPECT_EQ(s.recent(99).data_plane(), "dp-a");
  EXPECT_EQ(s.recent(0).user(), "");        // req_149: i = 49
  EXPECT_EQ(s.recent(99).user(), "alice");  // req_50: i = 0
}

TEST(StatsAggregatorTest, HealthWorstWinsOkClearsCooldownEnds) {
  testing::FakeClock clock;
  StatsAggregator agg(clock);
  EXPECT_FALSE(agg.Health("p", "k").has_value());
  agg.AddHealth("dp-1", Health("p", "k", "cooldown", clock.UnixMillis() + 10000));
  agg.AddHealth("dp-2", Health("p", "k", "disabled"));
  ASSERT_TRUE(agg.Health("p", "k").has_value());
  EXPECT_EQ(agg.Health("p", "k")->state, "auth_failed");
  EXPECT_EQ(agg.Health("p", "k")->data_plane, "dp-2");

  agg.AddHealth("dp-2", Health("p", "k", "ok"));
  EXPECT_EQ(agg.Health("p", "k")->state, "cooldown");
  clock.Advance(seconds(11));
  EXPECT_FALSE(agg.Health("p", "k").has_value());

  agg.AddHealth("dp-1", Health("p", "", "failing"));
  EXPECT_EQ(agg.Health("p", "")->state, "failing");
  agg.ForgetDataPlane("dp-1");
  EXPECT_FALSE(agg.Health("p", "").has_value());
}

TEST(StatsAggregatorTest, ForgottenDataPlaneKeepsTotalsLosesGauges) {
  testing::FakeClock clock;
  StatsAggregator agg(clock);
  ccrelay::v1::StatsReport r = Report("p", "k", 2, 0, 0);
  r.set_active_streams(3);
  agg.AddReport("dp-1", r);
  ccrelay::v1::StatsSnapshot before;
  agg.FillTotals(&before);
  EXPECT_EQ(before.active_streams(), 3);
  agg.ForgetDataPlane("dp-1");
  ccrelay::v1::StatsSnapshot after;
  agg.FillTotals(&after);
  EXPECT_EQ(after.active_streams(), 0);
  EXPECT_EQ(after.requests(), 2u);
}

}  // namespace
}  // namespace ccrelay::controlplane
