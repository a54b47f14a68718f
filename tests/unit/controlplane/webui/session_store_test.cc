#include "controlplane/webui/session_store.h"

#include <chrono>
#include <set>

#include "gtest/gtest.h"

#include "tests/fakes/fake_clock.h"

namespace ccrelay::controlplane::webui {
namespace {

TEST(RandomHexTest, LengthAndAlphabetAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const std::string h = RandomHex(32);
    EXPECT_EQ(h.size(), 64u);
    EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_TRUE(seen.insert(h).second);
  }
}

TEST(CookieValueTest, FindsTheNamedCookie) {
  EXPECT_EQ(CookieValue("a=1; ccr_session=abc; b=2", "ccr_session"), "abc");
  EXPECT_EQ(CookieValue("ccr_session=x", "ccr_session"), "x");
  EXPECT_EQ(CookieValue("xccr_session=x; b=2", "ccr_session"), "");
  EXPECT_EQ(CookieValue("", "ccr_session"), "");
  EXPECT_EQ(CookieValue("ccr_session", "ccr_session"), "");
}

TEST(SessionStoreTest, CreateFindRemove) {
  testing::FakeClock clock;
  SessionStore store(&clock);
  std::string csrf;
  const std::string id = store.Create("tok", "admin", &csrf);
  EXPECT_EQ(id.size(), 64u);
  EXPECT_EQ(csrf.size(), 64u);
  EXPECT_NE(id, csrf);
  const std::optional<Session> s = store.Find(id);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->token, "tok");
  EXPECT_EQ(s->role, "admin");
  EXPECT_EQ(s->csrf, csrf);
  EXPECT_FALSE(store.Find("").has_value());
  EXPECT_FALSE(store.Find(csrf).has_value());
  store.Remove(id);
  EXPECT_FALSE(store.Find(id).has_value());
}

TEST(SessionStoreTest, SessionsExpire) {
  testing::FakeClock clock;
  SessionStore store(&clock);
  std::string csrf;
  const std::string id = store.Create("", "read-only", &csrf);
  clock.Advance(SessionStore::kLifetime - std::chrono::seconds(1));
  EXPECT_TRUE(store.Find(id).has_value());
  clock.Advance(std::chrono::seconds(1));
  EXPECT_FALSE(store.Find(id).has_value());
}

TEST(SessionStoreTest, TheOldestGoesBeyondTheCap) {
  testing::FakeClock clock;
  SessionStore store(&clock);
  std::string csrf;
  const std::string first = store.Create("", "admin", &csrf);
  clock.Advance(std::chrono::seconds(1));
  std::string last;
  for (size_t i = 0; i < SessionStore::kMaxSessions; ++i) {
    last = store.Create("", "admin", &csrf);
  }
  EXPECT_FALSE(store.Find(first).has_value());
  EXPECT_TRUE(store.Find(last).has_value());
}

}  // namespace
}  // namespace ccrelay::controlplane::webui
