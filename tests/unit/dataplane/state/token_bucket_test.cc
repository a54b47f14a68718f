#include "dataplane/state/token_bucket.h"

#include "gtest/gtest.h"

#include "tests/fakes/fake_clock.h"

namespace ccrelay::state {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(TokenBucketTest, UnlimitedAlwaysHasRoom) {
  testing::FakeClock clock;
  TokenBucket b;
  EXPECT_TRUE(b.unlimited());
  EXPECT_TRUE(b.Has(1e9, clock.Now()));
  b.Take(1e9, clock.Now());
  EXPECT_TRUE(b.Has(1, clock.Now()));
  EXPECT_EQ(b.TimeUntil(1e9, clock.Now()), TokenBucket::Duration::zero());
}

TEST(TokenBucketTest, StartsFullAndRefillsAtLimitPerMinute) {
  testing::FakeClock clock;
  TokenBucket b;
  b.SetLimit(60, clock.Now());  // one token a second
  EXPECT_DOUBLE_EQ(b.Available(clock.Now()), 60);
  b.Take(60, clock.Now());
  EXPECT_FALSE(b.Has(1, clock.Now()));
  clock.Advance(milliseconds(999));
  EXPECT_FALSE(b.Has(1, clock.Now()));
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(b.Has(1, clock.Now()));
  clock.Advance(seconds(600));
  EXPECT_DOUBLE_EQ(b.Available(clock.Now()), 60) << "never above capacity";
}

TEST(TokenBucketTest, TimeUntilIsWhenTheTokensAreThere) {
  testing::FakeClock clock;
  TokenBucket b;
  b.SetLimit(120, clock.Now());  // two tokens a second
  b.Take(120, clock.Now());
  const auto wait = b.TimeUntil(10, clock.Now());
  EXPECT_GE(wait, seconds(5));
  EXPECT_LT(wait, seconds(5) + milliseconds(1));
  clock.Advance(wait);
  EXPECT_TRUE(b.Has(10, clock.Now()));
}

TEST(TokenBucketTest, DebtDelaysTheNextRequest) {
  testing::FakeClock clock;
  TokenBucket b;
  b.SetLimit(60, clock.Now());
  b.Take(90, clock.Now());  // corrected usage larger than the bucket: 30 in debt
  EXPECT_DOUBLE_EQ(b.Available(clock.Now()), -30);
  EXPECT_FALSE(b.Has(1, clock.Now()));
  clock.Advance(seconds(30));
  EXPECT_FALSE(b.Has(1, clock.Now()));
  clock.Advance(seconds(1));
  EXPECT_TRUE(b.Has(1, clock.Now()));
}

TEST(TokenBucketTest, RequestLargerThanTheBucketNeedsAFullBucket) {
  testing::FakeClock clock;
  TokenBucket b;
  b.SetLimit(100, clock.Now());
  EXPECT_TRUE(b.Has(500, clock.Now()));
  b.Take(500, clock.Now());
  EXPECT_FALSE(b.Has(500, clock.Now()));
  // 500 taken from 100: 400 in debt; full again after 500 tokens of refill = 5 minutes.
  EXPECT_GE(b.TimeUntil(500, clock.Now()), std::chrono::minutes(5));
}

TEST(TokenBucketTest, NegativeTakeGivesBackUpToCapacity) {
  testing::FakeClock clock;
  TokenBucket b;
  b.SetLimit(10, clock.Now());
  b.Take(8, clock.Now());
  b.Take(-5, clock.Now());
  EXPECT_DOUBLE_EQ(b.Available(clock.Now()), 7);
  b.Take(-50, clock.Now());
  EXPECT_DOUBLE_EQ(b.Available(clock.Now()), 10);
}

TEST(TokenBucketTest, LoweringTheLimitCapsTheBalance) {
  testing::FakeClock clock;
  TokenBucket b;
  b.SetLimit(100, clock.Now());
  b.SetLimit(10, clock.Now());
  EXPECT_DOUBLE_EQ(b.Available(clock.Now()), 10);
  b.Take(4, clock.Now());
  b.SetLimit(100, clock.Now());  // raising keeps the balance
  EXPECT_DOUBLE_EQ(b.Available(clock.Now()), 6);
  b.SetLimit(0, clock.Now());
  EXPECT_TRUE(b.unlimited());
}

}  // namespace
}  // namespace ccrelay::state
