#include "dataplane/common/backoff.h"

#include <chrono>

#include "gtest/gtest.h"

namespace ccrelay::common {
namespace {

using std::chrono::milliseconds;

TEST(JitteredBackoffTest, DoublesUpToTheCapWithFullRandomAtTheTop) {
  JitteredBackoff b(milliseconds(100), milliseconds(1000), [] { return 1.0; });
  EXPECT_EQ(b.Next(), milliseconds(100));
  EXPECT_EQ(b.Next(), milliseconds(200));
  EXPECT_EQ(b.Next(), milliseconds(400));
  EXPECT_EQ(b.Next(), milliseconds(800));
  EXPECT_EQ(b.Next(), milliseconds(1000));
  EXPECT_EQ(b.Next(), milliseconds(1000));
}

TEST(JitteredBackoffTest, JitterDrawsFromTheUpperHalf) {
  JitteredBackoff low(milliseconds(100), milliseconds(10000), [] { return 0.0; });
  EXPECT_EQ(low.Next(), milliseconds(50));
  EXPECT_EQ(low.Next(), milliseconds(100));
  JitteredBackoff mid(milliseconds(100), milliseconds(10000), [] { return 0.5; });
  EXPECT_EQ(mid.Next(), milliseconds(75));
}

TEST(JitteredBackoffTest, ResetStartsOver) {
  JitteredBackoff b(milliseconds(100), milliseconds(10000), [] { return 1.0; });
  b.Next();
  b.Next();
  b.Next();
  b.Reset();
  EXPECT_EQ(b.attempts(), 0u);
  EXPECT_EQ(b.Next(), milliseconds(100));
}

TEST(JitteredBackoffTest, ManyFailuresStayAtTheCap) {
  JitteredBackoff b(milliseconds(100), milliseconds(10000), [] { return 1.0; });
  for (int i = 0; i < 200; ++i) {
    EXPECT_LE(b.Next(), milliseconds(10000));
  }
  EXPECT_EQ(b.Next(), milliseconds(10000));
}

}  // namespace
}  // namespace ccrelay::common
