#include "dataplane/state/latency_tracker.h"

#include <chrono>
#include <string>

#include "gtest/gtest.h"

#include "tests/fakes/fake_clock.h"

namespace ccrelay::state {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Source = LatencyEstimate::Source;

LatencySample Ttft(double ms) { return LatencySample{ms, -1, -1}; }

TEST(EwmaTest, FirstSampleSetsThenEachWeighsAQuarterWhenBusy) {
  testing::FakeClock clock;
  Ewma e;
  EXPECT_LT(e.value(), 0);
  e.Add(100, clock.Now());
  EXPECT_DOUBLE_EQ(e.value(), 100);
  clock.Advance(milliseconds(10));  // busy: the minimum weight
  e.Add(500, clock.Now());
  EXPECT_NEAR(e.value(), 100 + 0.25 * 400, 0.5);
  EXPECT_EQ(e.count(), 2u);
}

TEST(EwmaTest, AFreshSampleAfterAQuietSpellCountsForMore) {
  testing::FakeClock clock;
  Ewma e;
  e.Add(100, clock.Now());
  clock.Advance(Ewma::kHalfLife);  // one half-life later: weight 0.5
  e.Add(300, clock.Now());
  EXPECT_NEAR(e.value(), 200, 1e-6);
  clock.Advance(seconds(3600));  // long quiet: the new sample is nearly all of it
  e.Add(1000, clock.Now());
  EXPECT_NEAR(e.value(), 1000, 1);
}

TEST(LatencyTrackerTest, PerModelFiguresAndTheProviderWideOne) {
  testing::FakeClock clock;
  LatencyTracker t;
  const uint64_t sonnet = LatencyTracker::ModelKey("claude-sonnet-4-5");
  const uint64_t haiku = LatencyTracker::ModelKey("claude-haiku-4-5");
  EXPECT_EQ(t.Estimate(sonnet, clock.Now()).source, Source::kNone);
  for (int i = 0; i < 3; ++i) {
    t.Add("claude-sonnet-4-5", LatencySample{800, 200, 2000}, clock.Now());
    clock.Advance(milliseconds(100));
  }
  const LatencyEstimate e = t.Estimate(sonnet, clock.Now());
  EXPECT_EQ(e.source, Source::kLocal);
  EXPECT_FALSE(e.provider_wide);
  EXPECT_NEAR(e.ttft_ms, 800, 1e-6);
  EXPECT_NEAR(e.tokens_per_s, 100, 1e-6);  // 200 tokens in 2 s
  EXPECT_EQ(e.samples, 3u);
  // Another model: the provider-wide figure, but "no data yet" (0 samples) for this model.
  const LatencyEstimate h = t.Estimate(haiku, clock.Now());
  EXPECT_TRUE(h.provider_wide);
  EXPECT_NEAR(h.ttft_ms, 800, 1e-6);
  EXPECT_EQ(h.samples, 0u);
}

TEST(LatencyTrackerTest, SpeedOnlyFromLongEnoughStreamedAnswers) {
  testing::FakeClock clock;
  LatencyTracker t;
  const uint64_t m = LatencyTracker::ModelKey("m");
  t.Add("m", LatencySample{100, LatencyTracker::kMinSpeedTokens - 1, 1000}, clock.Now());  // few
  t.Add("m", LatencySample{100, 500, 10}, clock.Now());    // too short a time
  t.Add("m", LatencySample{100, 500, -1}, clock.Now());    // not streamed
  EXPECT_LT(t.Estimate(m, clock.Now()).tokens_per_s, 0);
  t.Add("m", LatencySample{100, 500, 5000}, clock.Now());
  EXPECT_NEAR(t.Estimate(m, clock.Now()).tokens_per_s, 100, 1e-6);
}

TEST(LatencyTrackerTest, LocalWhenFreshElseShared) {
  testing::FakeClock clock;
  LatencyTracker t;
  const uint64_t m = LatencyTracker::ModelKey("m");
  t.SetShared("m", 2000, 40, 50, 1);
  LatencyEstimate e = t.Estimate(m, clock.Now());
  EXPECT_EQ(e.source, Source::kShared);
  EXPECT_EQ(e.ttft_ms, 2000);
  EXPECT_EQ(e.tokens_per_s, 40);
  EXPECT_EQ(e.samples, 50u);
  // One or two local samples do not outweigh the shared figure yet; three fresh ones do.
  t.Add("m", Ttft(300), clock.Now());
  t.Add("m", Ttft(300), clock.Now());
  EXPECT_EQ(t.Estimate(m, clock.Now()).source, Source::kShared);
  t.Add("m", Ttft(300), clock.Now());
  e = t.Estimate(m, clock.Now());
  EXPECT_EQ(e.source, Source::kLocal);
  EXPECT_NEAR(e.ttft_ms, 300, 1e-6);
  EXPECT_EQ(e.tokens_per_s, 40) << "no local speed: the shared one";
  // Stale local samples: the shared figure again.
  clock.Advance(LatencyTracker::kLocalFresh + seconds(1));
  EXPECT_EQ(t.Estimate(m, clock.Now()).source, Source::kShared);
  // A push that no longer carries the model drops it: the stale local figure is all there is.
  t.SetShared("", 1000, 50, 80, 2);
  t.ClearSharedBefore(2);
  e = t.Estimate(m, clock.Now());
  EXPECT_EQ(e.source, Source::kLocal);
  EXPECT_NEAR(e.ttft_ms, 300, 1e-6);
  e = t.ProviderWide(clock.Now());
  EXPECT_EQ(e.source, Source::kShared) << "stale local samples: the pushed provider-wide figure";
  EXPECT_EQ(e.ttft_ms, 1000);
}

TEST(LatencyTrackerTest, ATimeoutCountsOnlyAsALongerWait) {
  testing::FakeClock clock;
  LatencyTracker t;
  const uint64_t m = LatencyTracker::ModelKey("m");
  t.Add("m", Ttft(1000), clock.Now());
  t.AddLowerBound("m", 50, clock.Now());  // a fast refusal says nothing of the first token
  EXPECT_EQ(t.Estimate(m, clock.Now()).ttft_ms, 1000);
  t.AddLowerBound("m", 61000, clock.Now());
  EXPECT_NEAR(t.Estimate(m, clock.Now()).ttft_ms, 1000 + 0.25 * 60000, 1);
}

TEST(LatencyTrackerTest, SamplesAreTakenOnceForTheControlPlane) {
  testing::FakeClock clock;
  LatencyTracker t;
  t.Add("a", LatencySample{100, 100, 1000}, clock.Now());
  t.Add("a", LatencySample{300, 10, 1000}, clock.Now());  // no speed sample
  t.Add("b", Ttft(50), clock.Now());
  auto d = t.TakeSamples();
  ASSERT_EQ(d.size(), 2u);
  const LatencySampleDelta& a = d[0].model == "a" ? d[0] : d[1];
  EXPECT_EQ(a.count, 2u);
  EXPECT_EQ(a.ttft_ms_sum, 400u);
  EXPECT_EQ(a.speed_count, 1u);
  EXPECT_EQ(a.output_tokens, 100u);
  EXPECT_EQ(a.generation_ms, 1000u);
  EXPECT_TRUE(t.TakeSamples().empty());
  // A model name too long to report still counts locally.
  const std::string long_name(LatencyTracker::kMaxModelName + 1, 'x');
  t.Add(long_name, Ttft(10), clock.Now());
  EXPECT_TRUE(t.TakeSamples().empty());
  EXPECT_EQ(t.Estimate(LatencyTracker::ModelKey(long_name), clock.Now()).ttft_ms, 10);
}

TEST(LatencyTrackerTest, FullSlotsFallBackToTheProviderWideFigure) {
  testing::FakeClock clock;
  LatencyTracker t;
  for (size_t i = 0; i < LatencyTracker::kModelSlots; ++i) {
    for (int k = 0; k < 3; ++k) {
      t.Add("model-" + std::to_string(i), Ttft(100), clock.Now());
    }
  }
  for (int k = 0; k < 3; ++k) {
    t.Add("one-too-many", Ttft(100), clock.Now());
  }
  const LatencyEstimate e = t.Estimate(LatencyTracker::ModelKey("one-too-many"), clock.Now());
  EXPECT_TRUE(e.provider_wide);
  EXPECT_NEAR(e.ttft_ms, 100, 1e-6);
  EXPECT_GE(e.samples, LatencyTracker::kWarmSamples) << "never 'no data' for ever";
}

}  // namespace
}  // namespace ccrelay::state
