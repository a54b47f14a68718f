#include "controlplane/health/health_checker.h"

#include "gtest/gtest.h"

namespace ccrelay::controlplane {
namespace {

using Kind = ProbeVerdict::Kind;
using ccrelay::v1::CheckedHealth;

ProbeResult Answer(int status, std::string error_type = "") {
  ProbeResult r;
  r.status = status;
  r.error_type = std::move(error_type);
  return r;
}

TEST(ClassifyProbeTest, AnswersAndFailures) {
  EXPECT_EQ(ClassifyProbe(Answer(200), true).kind, Kind::kOk);
  EXPECT_EQ(ClassifyProbe(Answer(200), true).reason, "HTTP 200");
  // A live upstream without the models endpoint says nothing against the key.
  EXPECT_EQ(ClassifyProbe(Answer(404, "not_found_error"), true).kind, Kind::kOk);
  // Rate limited: the key is valid.
  EXPECT_EQ(ClassifyProbe(Answer(429, "rate_limit_error"), true).kind, Kind::kOk);
  const ProbeVerdict refused = ClassifyProbe(Answer(401, "authentication_error"), true);
  EXPECT_EQ(refused.kind, Kind::kAuthFailed);
  EXPECT_EQ(refused.reason, "HTTP 401 authentication_error");
  EXPECT_EQ(ClassifyProbe(Answer(403, "permission_error"), true).kind, Kind::kAuthFailed);
  // Without a key a 401 only proves the upstream is there (passthrough providers).
  EXPECT_EQ(ClassifyProbe(Answer(401), false).kind, Kind::kOk);
  EXPECT_EQ(ClassifyProbe(Answer(500), true).kind, Kind::kFailure);
  EXPECT_EQ(ClassifyProbe(Answer(529, "overloaded_error"), true).kind, Kind::kFailure);
  ProbeResult refused_conn;
  refused_conn.error = "connect: Connection refused";
  const ProbeVerdict failed = ClassifyProbe(refused_conn, true);
  EXPECT_EQ(failed.kind, Kind::kFailure);
  EXPECT_EQ(failed.reason, "connect: Connection refused");
}

ccrelay::v1::HealthChecks Thresholds(uint32_t unhealthy, uint32_t healthy) {
  ccrelay::v1::HealthChecks c;
  c.set_interval_ms(1000);
  c.set_unhealthy_threshold(unhealthy);
  c.set_healthy_threshold(healthy);
  return c;
}

TEST(TargetHealthTest, ThresholdsDecideTransitions) {
  const auto config = Thresholds(2, 2);
  TargetHealth t;
  EXPECT_EQ(t.published.state(), CheckedHealth::UNKNOWN);
  EXPECT_TRUE(t.Record({Kind::kOk, "HTTP 200"}, config, 100));  // the first answer counts at once
  EXPECT_EQ(t.published.state(), CheckedHealth::HEALTHY);
  EXPECT_EQ(t.published.since_unix_ms(), 100);
  EXPECT_FALSE(t.Record({Kind::kFailure, "timeout"}, config, 200));  // one failure is not enough
  EXPECT_EQ(t.published.state(), CheckedHealth::HEALTHY);
  EXPECT_FALSE(t.Record({Kind::kOk, "HTTP 200"}, config, 300));  // the run is broken
  EXPECT_FALSE(t.Record({Kind::kFailure, "timeout"}, config, 400));
  EXPECT_TRUE(t.Record({Kind::kFailure, "HTTP 503"}, config, 500));
  EXPECT_EQ(t.published.state(), CheckedHealth::UNHEALTHY);
  EXPECT_EQ(t.published.reason(), "HTTP 503");
  EXPECT_EQ(t.published.since_unix_ms(), 500);
  EXPECT_FALSE(t.Record({Kind::kFailure, "HTTP 502"}, config, 600));  // same state: no change
  EXPECT_EQ(t.published.reason(), "HTTP 503");
  EXPECT_FALSE(t.Record({Kind::kOk, "HTTP 200"}, config, 700));  // healthy_threshold 2
  EXPECT_TRUE(t.Record({Kind::kOk, "HTTP 200"}, config, 800));
  EXPECT_EQ(t.published.state(), CheckedHealth::HEALTHY);
  EXPECT_EQ(t.published.since_unix_ms(), 800);
}

TEST(TargetHealthTest, RefusedKeyIsMarkedAtOnce) {
  const auto config = Thresholds(3, 1);
  TargetHealth t;
  EXPECT_TRUE(t.Record({Kind::kAuthFailed, "HTTP 401 authentication_error"}, config, 10));
  EXPECT_EQ(t.published.state(), CheckedHealth::AUTH_FAILED);
  EXPECT_FALSE(t.Record({Kind::kAuthFailed, "HTTP 401 authentication_error"}, config, 20));
  EXPECT_TRUE(t.Record({Kind::kOk, "HTTP 200"}, config, 30));
  EXPECT_EQ(t.published.state(), CheckedHealth::HEALTHY);
}

}  // namespace
}  // namespace ccrelay::controlplane
