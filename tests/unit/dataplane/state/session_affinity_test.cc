#include "dataplane/state/session_affinity.h"

#include <string>

#include "gtest/gtest.h"

#include "tests/fakes/fake_clock.h"

namespace ccrelay::state {
namespace {

using std::chrono::seconds;

constexpr auto kTtl = std::chrono::hours(1);

TEST(SessionAffinityTest, RemembersTheLastTargetOfASession) {
  testing::FakeClock clock;
  SessionAffinity affinity;
  std::string target;
  EXPECT_FALSE(affinity.Find("s1", kTtl, clock.Now(), &target));
  affinity.Set("s1", "anthropic/aaaa1111", clock.Now());
  affinity.Set("s2", "anthropic/bbbb2222", clock.Now());
  ASSERT_TRUE(affinity.Find("s1", kTtl, clock.Now(), &target));
  EXPECT_EQ(target, "anthropic/aaaa1111");
  affinity.Set("s1", "zai/cccc3333", clock.Now());  // the affinity moves
  ASSERT_TRUE(affinity.Find("s1", kTtl, clock.Now(), &target));
  EXPECT_EQ(target, "zai/cccc3333");
  EXPECT_EQ(affinity.size(), 2u);
}

TEST(SessionAffinityTest, ForgetsASessionIdleLongerThanTheTtl) {
  testing::FakeClock clock;
  SessionAffinity affinity;
  std::string target;
  affinity.Set("s1", "a/1", clock.Now());
  clock.Advance(seconds(3000));
  ASSERT_TRUE(affinity.Find("s1", kTtl, clock.Now(), &target)) << "a lookup refreshes it";
  clock.Advance(seconds(3000));
  EXPECT_TRUE(affinity.Find("s1", kTtl, clock.Now(), &target));
  clock.Advance(kTtl + seconds(1));
  EXPECT_FALSE(affinity.Find("s1", kTtl, clock.Now(), &target));
  EXPECT_EQ(affinity.size(), 0u);
}

TEST(SessionAffinityTest, MemoryIsBoundedLeastRecentlyUsedFirst) {
  testing::FakeClock clock;
  SessionAffinity affinity(SessionAffinity::kShards * 4);  // 4 per shard
  std::string target;
  for (int i = 0; i < 1000; ++i) {
    affinity.Set("session-" + std::to_string(i), "a/1", clock.Now());
    clock.Advance(std::chrono::milliseconds(1));
  }
  EXPECT_LE(affinity.size(), SessionAffinity::kShards * 4);
  EXPECT_TRUE(affinity.Find("session-999", kTtl, clock.Now(), &target)) << "newest kept";
  EXPECT_FALSE(affinity.Find("session-0", kTtl, clock.Now(), &target)) << "oldest evicted";
}

TEST(SessionAffinityTest, EmptyOrOversizedIdsAreNotTracked) {
  testing::FakeClock clock;
  SessionAffinity affinity;
  std::string target;
  affinity.Set("", "a/1", clock.Now());
  const std::string huge(SessionAffinity::kMaxSessionIdBytes + 1, 'x');
  affinity.Set(huge, "a/1", clock.Now());
  EXPECT_EQ(affinity.size(), 0u);
  EXPECT_FALSE(affinity.Find(huge, kTtl, clock.Now(), &target));
}

}  // namespace
}  // namespace ccrelay::state
