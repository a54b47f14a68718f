#include "dataplane/state/output_estimator.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ccrelay::state {
namespace {

TEST(OutputTokenEstimatorTest, NothingBeforeTheFirstSample) {
  OutputTokenEstimator e;
  EXPECT_EQ(e.Estimate("glm-4.7"), -1);
  EXPECT_EQ(e.Samples("glm-4.7"), 0u);
  e.Observe("glm-4.7", -1);  // unknown usage: ignored
  EXPECT_EQ(e.Estimate("glm-4.7"), -1);
}

TEST(OutputTokenEstimatorTest, PlainMeanDuringWarmupThenMoving) {
  OutputTokenEstimator e;
  e.Observe("m", 100);
  EXPECT_EQ(e.Estimate("m"), 100);
  e.Observe("m", 300);
  EXPECT_EQ(e.Estimate("m"), 200);
  for (int i = 2; i < 8; ++i) {
    e.Observe("m", 200);
  }
  EXPECT_EQ(e.Estimate("m"), 200);  // mean of 100, 300 and six 200s
  EXPECT_EQ(e.Samples("m"), 8u);
  // From now on each sample weighs 1/8: one 1000 moves the mean by 100.
  e.Observe("m", 1000);
  EXPECT_EQ(e.Estimate("m"), 300);
  // A lasting change is followed within a bounded number of samples.
  for (int i = 0; i < 40; ++i) {
    e.Observe("m", 4000);
  }
  EXPECT_GT(e.Estimate("m"), 3900);
  EXPECT_LE(e.Estimate("m"), 4000);
}

TEST(OutputTokenEstimatorTest, ModelsAreApart) {
  OutputTokenEstimator e;
  e.Observe("claude-haiku-4-5", 50);
  e.Observe("claude-sonnet-4-5", 3000);
  EXPECT_EQ(e.Estimate("claude-haiku-4-5"), 50);
  EXPECT_EQ(e.Estimate("claude-sonnet-4-5"), 3000);
  EXPECT_EQ(e.Estimate("claude-opus-4-8"), -1);
}

TEST(OutputTokenEstimatorTest, MoreModelsThanSlotsStayUsable) {
  OutputTokenEstimator e;
  for (int i = 0; i < 2000; ++i) {
    e.Observe("model-" + std::to_string(i), i);
  }
  // The latest model always has its own slot; older ones may have been taken over.
  EXPECT_EQ(e.Estimate("model-1999"), 1999);
  int known = 0;
  for (int i = 0; i < 2000; ++i) {
    const int64_t v = e.Estimate("model-" + std::to_string(i));
    EXPECT_TRUE(v == -1 || v == i) << i;  // never another model's figure
    known += v >= 0 ? 1 : 0;
  }
  EXPECT_GE(known, 200);
  EXPECT_LE(known, static_cast<int>(OutputTokenEstimator::kSlots));
}

TEST(OutputTokenEstimatorTest, ConcurrentSamplesAreAllCounted) {
  OutputTokenEstimator e;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&e] {
      for (int i = 0; i < 1000; ++i) {
        e.Observe("shared", 500);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(e.Samples("shared"), 4000u);
  EXPECT_EQ(e.Estimate("shared"), 500);
}

}  // namespace
}  // namespace ccrelay::state
