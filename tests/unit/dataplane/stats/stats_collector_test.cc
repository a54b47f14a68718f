// The deltas a data plane reports: per-key counters and the recent requests, oldest first and
// capped, taken and started over on each Take().
#include "dataplane/stats/stats_collector.h"

#include <string>

#include "gtest/gtest.h"

namespace ccrelay::stats {
namespace {

RequestRecord Record(int n) {
  RequestRecord r;
  r.request_id = "req_ccr_" + std::to_string(n) + "_padded_past_the_small_string";
  r.provider = "anthropic";
  r.key_fingerprint = "fp1";
  r.model = "claude-sonnet-4-5-20250929";
  r.status = 200;
  r.ttfb_ms = n;
  r.usage.input_tokens = n;
  return r;
}

TEST(StatsCollectorTest, RecentRequestsAreTheLastOnesOldestFirst) {
  StatsCollector c;
  const int total = static_cast<int>(StatsCollector::kMaxRecent) + 7;
  for (int n = 1; n <= total; ++n) {
    c.OnRequestDone(Record(n));
  }
  StatsDelta d = c.Take();
  EXPECT_EQ(d.requests, static_cast<uint64_t>(total));
  ASSERT_EQ(d.recent.size(), StatsCollector::kMaxRecent);
  for (size_t i = 0; i < d.recent.size(); ++i) {
    EXPECT_EQ(d.recent[i].request_id, Record(8 + static_cast<int>(i)).request_id);
  }
  ASSERT_EQ(d.keys.size(), 1u);
  EXPECT_EQ(d.keys[0].requests, static_cast<uint64_t>(total));
  EXPECT_EQ(d.keys[0].input_tokens, static_cast<uint64_t>(total * (total + 1) / 2));

  // Started over: only what came after the Take, across the ring's wrap.
  for (int n = 100; n < 103; ++n) {
    c.OnRequestDone(Record(n));
  }
  d = c.Take();
  EXPECT_EQ(d.requests, 3u);
  ASSERT_EQ(d.recent.size(), 3u);
  EXPECT_EQ(d.recent[0].request_id, Record(100).request_id);
  EXPECT_EQ(d.recent[2].request_id, Record(102).request_id);
  EXPECT_EQ(d.recent[2].usage.input_tokens, 102);

  d = c.Take();
  EXPECT_EQ(d.requests, 0u);
  EXPECT_TRUE(d.recent.empty());
  EXPECT_TRUE(d.keys.empty());
}

TEST(StatsCollectorTest, FewerThanTheCapBeforeTheRingFills) {
  StatsCollector c;
  c.OnRequestDone(Record(1));
  c.OnRequestDone(Record(2));
  StatsDelta d = c.Take();
  ASSERT_EQ(d.recent.size(), 2u);
  EXPECT_EQ(d.recent[0].ttfb_ms, 1);
  EXPECT_EQ(d.recent[1].ttfb_ms, 2);
}

}  // namespace
}  // namespace ccrelay::stats
