// DataPlaneMetrics: what each observer event does to the metrics, the model label guard, and
// the scrape-time families (keys, connections, snapshot version).
#include "dataplane/stats/data_plane_metrics.h"

#include <string>

#include "gtest/gtest.h"

#include "proto/snapshot.pb.h"

#include "dataplane/common/secret.h"
#include "dataplane/common/str.h"
#include "dataplane/routing/routing_table.h"
#include "dataplane/state/state_registry.h"

namespace ccrelay::stats {
namespace {

// The value of one sample line ("name{labels} value") in an exposition, or -1 if absent.
double SampleValue(const std::string& text, std::string_view series) {
  const std::string needle = common::StrCat("\n", series, " ");
  const size_t at = ("\n" + text).find(needle);
  if (at == std::string::npos) {
    return -1;
  }
  const size_t start = at + needle.size() - 1;  // offset in `text`
  const size_t end = text.find('\n', start);
  return std::stod(text.substr(start, end - start));
}

RequestRecord Messages(std::string provider, std::string model, int status) {
  RequestRecord r;
  r.request_id = "req_ccr_test";
  r.provider = std::move(provider);
  r.key_fingerprint = "0badf00d";
  r.model = std::move(model);
  r.status = status;
  r.attempts = 1;
  r.ttfb_ms = 120;
  r.ttft_ms = 250;
  r.duration_ms = 1500;
  r.usage = http::Usage{100, 40, 7, 3};
  r.cost_usd = 0.00123;
  r.stream = true;
  return r;
}

TEST(DataPlaneMetricsTest, RequestCountsTokensCostAndLatencies) {
  DataPlaneMetrics m("1.2.3");
  m.OnRequestDone(Messages("anthropic", "claude-sonnet-4-5", 200));
  m.OnRequestDone(Messages("anthropic", "claude-sonnet-4-5", 200));
  const std::string text = m.Render({});
  EXPECT_EQ(
      SampleValue(
          text,
          R"(ccrelay_requests_total{provider="anthropic",model="claude-sonnet-4-5",status="200"})"),
      2);
  const std::string pm = R"(provider="anthropic",model="claude-sonnet-4-5")";
  EXPECT_EQ(SampleValue(text, common::StrCat("ccrelay_tokens_total{", pm, ",type=\"input\"}")),
            200);
  EXPECT_EQ(SampleValue(text, common::StrCat("ccrelay_tokens_total{", pm, ",type=\"output\"}")),
            80);
  EXPECT_EQ(
      SampleValue(text, common::StrCat("ccrelay_tokens_total{", pm, ",type=\"cache_creation\"}")),
      14);
  EXPECT_EQ(SampleValue(text, common::StrCat("ccrelay_tokens_total{", pm, ",type=\"cache_read\"}")),
            6);
  EXPECT_DOUBLE_EQ(SampleValue(text, common::StrCat("ccrelay_cost_usd_total{", pm, "}")), 0.00246);
  EXPECT_EQ(
      SampleValue(text, common::StrCat("gen_ai_server_request_duration_seconds_count{", pm, "}")),
      2);
  EXPECT_EQ(
      SampleValue(text, common::StrCat("gen_ai_server_request_duration_seconds_sum{", pm, "}")), 3);
  EXPECT_EQ(SampleValue(text, common::StrCat("gen_ai_server_request_duration_seconds_bucket{", pm,
                                             ",le=\"1\"}")),
            0);
  EXPECT_EQ(SampleValue(text, common::StrCat("gen_ai_server_request_duration_seconds_bucket{", pm,
                                             ",le=\"2.5\"}")),
            2);
  EXPECT_EQ(SampleValue(
                text, common::StrCat("gen_ai_server_time_to_first_token_seconds_count{", pm, "}")),
            2);
  EXPECT_EQ(SampleValue(text, common::StrCat("gen_ai_server_time_to_first_token_seconds_bucket{",
                                             pm, ",le=\"0.25\"}")),
            2);
  EXPECT_EQ(SampleValue(text, common::StrCat("gen_ai_server_time_to_first_token_seconds_bucket{",
                                             pm, ",le=\"0.1\"}")),
            0);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_build_info{version="1.2.3"})"), 1);
  // No retries: no retry series at all.
  EXPECT_EQ(text.find("ccrelay_retries_total{"), std::string::npos);
}

TEST(DataPlaneMetricsTest, UnknownUsageAndTtftAreNotCounted) {
  DataPlaneMetrics m("v");
  RequestRecord r = Messages("p", "m", 500);
  r.usage = http::Usage{};  // all -1
  r.ttft_ms = -1;
  m.OnRequestDone(r);
  const std::string text = m.Render({});
  EXPECT_EQ(SampleValue(text, R"(ccrelay_requests_total{provider="p",model="m",status="500"})"), 1);
  EXPECT_EQ(text.find("ccrelay_tokens_total{"), std::string::npos);
  EXPECT_EQ(text.find("ccrelay_cost_usd_total{"), std::string::npos);
  EXPECT_EQ(text.find("gen_ai_server_time_to_first_token_seconds_count"), std::string::npos);
  EXPECT_EQ(
      SampleValue(text, R"(gen_ai_server_request_duration_seconds_count{provider="p",model="m"})"),
      1);
}

TEST(DataPlaneMetricsTest, RelayAnsweredRequestsAndCountTokensOnlyCountRequests) {
  DataPlaneMetrics m("v");
  RequestRecord rejected;
  rejected.status = 401;
  m.OnRequestDone(rejected);
  RequestRecord count = Messages("p", "m", 200);
  count.count_tokens = true;
  m.OnRequestDone(count);
  const std::string text = m.Render({});
  EXPECT_EQ(SampleValue(text, R"(ccrelay_requests_total{provider="",model="",status="401"})"), 1);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_requests_total{provider="p",model="m",status="200"})"), 1);
  EXPECT_EQ(text.find("gen_ai_server_request_duration_seconds"), std::string::npos);
  EXPECT_EQ(text.find("ccrelay_tokens_total{"), std::string::npos);
}

TEST(DataPlaneMetricsTest, RetriesFailoversAndUpstreamErrorsByReason) {
  DataPlaneMetrics m("v");
  for (int status : {429, 529, 503, 404}) {
    m.OnAttemptFailed(AttemptRecord{"a", "k1", "status", status});
  }
  m.OnAttemptFailed(AttemptRecord{"a", "k1", "connect", 0});
  m.OnAttemptFailed(AttemptRecord{"b", "", "timeout", 0});
  m.OnAttemptFailed(AttemptRecord{"b", "", "timeout", 0});
  RequestRecord r = Messages("b", "m", 200);
  r.attempts = 3;
  r.upstream_error = true;
  m.OnRequestDone(r);
  const std::string text = m.Render({});
  EXPECT_EQ(
      SampleValue(text, R"(ccrelay_upstream_errors_total{provider="a",reason="rate_limited"})"), 1);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_upstream_errors_total{provider="a",reason="overloaded"})"),
            1);
  EXPECT_EQ(
      SampleValue(text, R"(ccrelay_upstream_errors_total{provider="a",reason="server_error"})"), 1);
  EXPECT_EQ(
      SampleValue(text, R"(ccrelay_upstream_errors_total{provider="a",reason="client_error"})"), 1);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_upstream_errors_total{provider="a",reason="connect"})"),
            1);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_upstream_errors_total{provider="b",reason="timeout"})"),
            2);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_upstream_errors_total{provider="b",reason="mid_stream"})"),
            1);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_retries_total{provider="b"})"), 2);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_failovers_total{provider="b"})"), 1);
}

TEST(DataPlaneMetricsTest, ActiveStreamsGaugeAndSnapshotUpdates) {
  DataPlaneMetrics m("v");
  EXPECT_EQ(SampleValue(m.Render({}), "ccrelay_active_streams"), 0);
  m.OnStreamStarted();
  m.OnStreamStarted();
  m.OnStreamEnded();
  m.OnSnapshotUpdate(true);
  m.OnSnapshotUpdate(true);
  m.OnSnapshotUpdate(false);
  const std::string text = m.Render({});
  EXPECT_EQ(SampleValue(text, "ccrelay_active_streams"), 1);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_snapshot_updates_total{result="applied"})"), 2);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_snapshot_updates_total{result="rejected"})"), 1);
}

TEST(DataPlaneMetricsTest, DroppedBetasByProviderAndBeta) {
  DataPlaneMetrics m("1.2.3");
  m.OnBetaDropped("vx", "claude-code-20250219");
  m.OnBetaDropped("vx", "claude-code-20250219");
  m.OnBetaDropped("vx", "other");
  const std::string text = m.Render({});
  EXPECT_EQ(SampleValue(text,
                        R"(ccrelay_betas_dropped_total{provider="vx",beta="claude-code-20250219"})"),
            2);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_betas_dropped_total{provider="vx",beta="other"})"), 1);
}

TEST(DataPlaneMetricsTest, RoutingDecisionsByStrategyAndRule) {
  DataPlaneMetrics m("1.2.3");
  m.OnRouted("shuffle", "");
  m.OnRouted("shuffle", "");
  m.OnRouted("ordered", "background");
  const std::string text = m.Render({});
  EXPECT_EQ(SampleValue(text, R"(ccrelay_routing_decisions_total{strategy="shuffle",rule="default"})"),
            2);
  EXPECT_EQ(
      SampleValue(text, R"(ccrelay_routing_decisions_total{strategy="ordered",rule="background"})"),
      1);
}

TEST(DataPlaneMetricsTest, ModelLabelIsSanitisedCutAndCapped) {
  DataPlaneMetrics m("v");
  std::string storage;
  EXPECT_EQ(m.ModelLabel("claude-sonnet-4-5", &storage), "claude-sonnet-4-5");
  EXPECT_EQ(m.ModelLabel(std::string_view("a\nb\x01\x7f", 5), &storage), "a?b??");
  const std::string long_name(300, 'x');
  EXPECT_EQ(m.ModelLabel(long_name, &storage), std::string(DataPlaneMetrics::kMaxModelLength, 'x'));
  // A cut through a multi-byte character drops the partial character.
  std::string accented(DataPlaneMetrics::kMaxModelLength - 1, 'y');
  accented += "\xc3\xa8tail";
  EXPECT_EQ(m.ModelLabel(accented, &storage),
            std::string(DataPlaneMetrics::kMaxModelLength - 1, 'y'));
  for (size_t i = 0; i < DataPlaneMetrics::kMaxModels; ++i) {
    (void)m.ModelLabel(common::StrCat("model-", i), &storage);
  }
  EXPECT_EQ(m.ModelLabel("one-too-many", &storage), "other");
  EXPECT_EQ(m.ModelLabel("claude-sonnet-4-5", &storage), "claude-sonnet-4-5");  // admitted
}

TEST(DataPlaneMetricsTest, ScrapeStateFamilies) {
  DataPlaneMetrics m("v");
  ScrapeState s;
  s.snapshot_version = 42;
  s.open_connections = 3;
  KeySample k;
  k.provider = "anthropic";
  k.key = "1a2b3c4d";
  k.requests = 10;
  k.failures = 2;
  k.state = "cooling";
  k.cooldown_seconds = 1.5;
  k.limits = {{"rpm", 50, 12}, {"tpm", 0, std::nullopt}, {"itpm", 30000, std::nullopt}};
  s.keys.push_back(k);
  const std::string text = m.Render(s);
  EXPECT_EQ(SampleValue(text, "ccrelay_snapshot_version"), 42);
  EXPECT_EQ(SampleValue(text, "ccrelay_open_connections"), 3);
  const std::string pk = R"(provider="anthropic",key="1a2b3c4d")";
  EXPECT_EQ(SampleValue(text, common::StrCat("ccrelay_key_requests_total{", pk, "}")), 10);
  EXPECT_EQ(SampleValue(text, common::StrCat("ccrelay_key_failures_total{", pk, "}")), 2);
  EXPECT_EQ(SampleValue(text, common::StrCat("ccrelay_key_cooldown_seconds{", pk, "}")), 1.5);
  for (std::string_view state : kKeyStates) {
    EXPECT_EQ(
        SampleValue(text, common::StrCat("ccrelay_key_state{", pk, ",state=\"", state, "\"}")),
        state == "cooling" ? 1 : 0)
        << state;
  }
  EXPECT_EQ(SampleValue(text, common::StrCat("ccrelay_key_rate_limit{", pk, ",limit=\"rpm\"}")),
            50);
  EXPECT_EQ(SampleValue(text, common::StrCat("ccrelay_key_rate_limit{", pk, ",limit=\"itpm\"}")),
            30000);
  EXPECT_EQ(SampleValue(text, common::StrCat("ccrelay_key_rate_limit{", pk, ",limit=\"tpm\"}")),
            -1);
  EXPECT_EQ(
      SampleValue(text, common::StrCat("ccrelay_key_rate_limit_remaining{", pk, ",limit=\"rpm\"}")),
      12);
  EXPECT_EQ(SampleValue(
                text, common::StrCat("ccrelay_key_rate_limit_remaining{", pk, ",limit=\"itpm\"}")),
            -1);
  // Each family appears once (HELP/TYPE not repeated per key).
  EXPECT_EQ(text.find("# TYPE ccrelay_key_state"), text.rfind("# TYPE ccrelay_key_state"));
}

TEST(DataPlaneMetricsTest, UnlistedKeyStateIsStillShown) {
  DataPlaneMetrics m("v");
  ScrapeState s;
  KeySample k;
  k.provider = "p";
  k.key = "k";
  k.state = "some_new_state";
  s.keys.push_back(k);
  const std::string text = m.Render(s);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_key_state{provider="p",key="k",state="some_new_state"})"),
            1);
  EXPECT_EQ(SampleValue(text, R"(ccrelay_key_state{provider="p",key="k",state="active"})"), 0);
}

TEST(KeyMetricsTest, SampleKeysReadsKeyStateByFingerprint) {
  v1::RoutingSnapshot snap;
  snap.set_version(3);
  auto* p = snap.add_providers();
  p->set_name("a");
  p->set_type("anthropic");
  p->set_enabled(true);
  p->set_base_url("http://127.0.0.1:9");
  for (const char* secret : {"sk-sample-one", "sk-sample-two"}) {
    auto* k = p->add_keys();
    k->set_secret(secret);
    k->set_enabled(true);
    k->set_weight(1);
    k->set_rpm_limit(60);
  }
  state::StateRegistry states;
  auto table = routing::CompileRoutingTable(snap, states);
  ASSERT_TRUE(table.ok()) << table.status();
  const auto& keys = (*table)->providers[0].keys;
  keys[0].state->requests.fetch_add(5);
  keys[1].state->failures.fetch_add(1);
  ASSERT_TRUE(keys[1].state->Disable("HTTP 401", 1000));

  const std::vector<KeySample> samples = SampleKeys(**table, std::chrono::steady_clock::now());
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].provider, "a");
  EXPECT_EQ(samples[0].key, common::FingerprintOf("sk-sample-one"));
  EXPECT_EQ(samples[0].requests, 5u);
  EXPECT_EQ(samples[0].state, "active");
  EXPECT_EQ(samples[1].key, common::FingerprintOf("sk-sample-two"));
  EXPECT_EQ(samples[1].failures, 1u);
  EXPECT_EQ(samples[1].state, "auth_failed");
  ASSERT_FALSE(samples[0].limits.empty());
  EXPECT_EQ(samples[0].limits[0].limit, "rpm");
  EXPECT_EQ(samples[0].limits[0].configured, 60);
  ASSERT_TRUE(samples[0].limits[0].remaining.has_value());
  EXPECT_LE(*samples[0].limits[0].remaining, 60);
  // Nothing but fingerprints leaves the key state.
  const std::string text = DataPlaneMetrics("v").Render({3, 0, samples, {}});
  EXPECT_EQ(text.find("sk-sample"), std::string::npos);
  EXPECT_NE(text.find(common::FingerprintOf("sk-sample-two")), std::string::npos);
}

}  // namespace
}  // namespace ccrelay::stats
