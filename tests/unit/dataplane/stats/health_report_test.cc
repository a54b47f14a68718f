#include "dataplane/stats/health_report.h"

#include "gtest/gtest.h"

#include "proto/stream.pb.h"

namespace ccrelay::stats {
namespace {

ObservedTarget Target(std::string key, std::string state, int64_t until = 0) {
  return ObservedTarget{"p", std::move(key), std::move(state), "", until};
}

TEST(HealthReporterTest, SendsOnlyChangesAndEverythingOnAFullReport) {
  HealthReporter r;
  ccrelay::v1::HealthReport report;
  EXPECT_FALSE(r.Take({Target("", "ok"), Target("k1", "ok")}, false, &report))
      << "all ok from the start: nothing to say";

  report.Clear();
  ASSERT_TRUE(r.Take({Target("", "ok"), Target("k1", "disabled")}, false, &report));
  ASSERT_EQ(report.observations_size(), 1);
  EXPECT_EQ(report.observations(0).key_fingerprint(), "k1");
  EXPECT_EQ(report.observations(0).state(), "disabled");

  report.Clear();
  EXPECT_FALSE(r.Take({Target("", "ok"), Target("k1", "disabled")}, false, &report));

  // A new stream: the control plane forgot; everything not ok again.
  report.Clear();
  ASSERT_TRUE(r.Take({Target("", "ok"), Target("k1", "disabled")}, true, &report));
  ASSERT_EQ(report.observations_size(), 1);
  EXPECT_EQ(report.observations(0).state(), "disabled");

  // Back to ok is a change too.
  report.Clear();
  ASSERT_TRUE(r.Take({Target("", "ok"), Target("k1", "ok")}, false, &report));
  ASSERT_EQ(report.observations_size(), 1);
  EXPECT_EQ(report.observations(0).state(), "ok");
}

TEST(HealthReporterTest, CooldownEndDriftIsNoChangeAndGoneTargetsClear) {
  HealthReporter r;
  ccrelay::v1::HealthReport report;
  ASSERT_TRUE(r.Take({Target("k1", "cooldown", 10000)}, false, &report));
  EXPECT_EQ(report.observations(0).until_unix_ms(), 10000);
  report.Clear();
  // The end computed again a little later (rounding): no report, and no creeping either.
  EXPECT_FALSE(r.Take({Target("k1", "cooldown", 10400)}, false, &report));
  EXPECT_FALSE(r.Take({Target("k1", "cooldown", 10900)}, false, &report));
  // A new cooldown (another 429) moves the end.
  ASSERT_TRUE(r.Take({Target("k1", "cooldown", 25000)}, false, &report));
  EXPECT_EQ(report.observations(0).until_unix_ms(), 25000);
  // The key left the table (removed): reported ok once.
  report.Clear();
  ASSERT_TRUE(r.Take({}, false, &report));
  ASSERT_EQ(report.observations_size(), 1);
  EXPECT_EQ(report.observations(0).key_fingerprint(), "k1");
  EXPECT_EQ(report.observations(0).state(), "ok");
}

}  // namespace
}  // namespace ccrelay::stats
