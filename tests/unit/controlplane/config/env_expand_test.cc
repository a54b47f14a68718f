#include "controlplane/config/env_expand.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ccrelay::controlplane {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

EnvLookup FakeEnv(std::map<std::string, std::string, std::less<>> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

TEST(EnvExpandTest, PlainTextIsUnchanged) {
  EnvExpansion e = ExpandEnv("just text: 1 { } $", FakeEnv({}));
  EXPECT_TRUE(e.ok());
  EXPECT_EQ(e.value, "just text: 1 { } $");
}

TEST(EnvExpandTest, ReplacesSetVariable) {
  EnvExpansion e = ExpandEnv("${KEY}", FakeEnv({{"KEY", "sk-123"}}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value, "sk-123");
}

TEST(EnvExpandTest, ReplacesSeveralVariablesInsideText) {
  EnvExpansion e =
      ExpandEnv("https://${HOST}:${PORT}/v1", FakeEnv({{"HOST", "example.com"}, {"PORT", "443"}}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value, "https://example.com:443/v1");
}

TEST(EnvExpandTest, SetButEmptyVariableExpandsToEmpty) {
  EnvExpansion e = ExpandEnv("a${E}b", FakeEnv({{"E", ""}}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value, "ab");
}

TEST(EnvExpandTest, DefaultUsedWhenUnset) {
  EnvExpansion e = ExpandEnv("${PORT:-8787}", FakeEnv({}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value, "8787");
}

TEST(EnvExpandTest, DefaultUsedWhenEmpty) {
  EnvExpansion e = ExpandEnv("${PORT:-8787}", FakeEnv({{"PORT", ""}}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value, "8787");
}

TEST(EnvExpandTest, DefaultIgnoredWhenSet) {
  EnvExpansion e = ExpandEnv("${PORT:-8787}", FakeEnv({{"PORT", "9000"}}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value, "9000");
}

TEST(EnvExpandTest, EmptyDefaultAndDefaultWithSpecialCharacters) {
  EnvExpansion e = ExpandEnv("[${A:-}][${B:-http://x:1/p?q=$}]", FakeEnv({}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value, "[][http://x:1/p?q=$]");
}

TEST(EnvExpandTest, DoubleDollarIsLiteralDollar) {
  EnvExpansion e = ExpandEnv("$$ and $${KEY} and $$$$", FakeEnv({{"KEY", "no"}}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value, "$ and ${KEY} and $$");
}

TEST(EnvExpandTest, LoneDollarStays) {
  EnvExpansion e = ExpandEnv("$HOME costs $5 $", FakeEnv({{"HOME", "/root"}}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value, "$HOME costs $5 $");
}

TEST(EnvExpandTest, ExpandedValueIsNotExpandedAgain) {
  EnvExpansion e = ExpandEnv("${A}", FakeEnv({{"A", "${B}$$"}, {"B", "no"}}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value, "${B}$$");
}

TEST(EnvExpandTest, UnsetVariableIsAnErrorNamingIt) {
  EnvExpansion e = ExpandEnv("${ANTHROPIC_API_KEY}", FakeEnv({}));
  EXPECT_THAT(e.errors, ElementsAre("environment variable ANTHROPIC_API_KEY is not set"));
}

TEST(EnvExpandTest, EveryUnsetVariableIsReported) {
  EnvExpansion e = ExpandEnv("${A}-${B}-${C}", FakeEnv({{"B", "b"}}));
  EXPECT_THAT(e.errors, ElementsAre("environment variable A is not set",
                                    "environment variable C is not set"));
}

TEST(EnvExpandTest, UnterminatedReferenceIsAnError) {
  EnvExpansion e = ExpandEnv("abc${KEY", FakeEnv({{"KEY", "v"}}));
  ASSERT_EQ(e.errors.size(), 1u);
  EXPECT_THAT(e.errors[0], ::testing::HasSubstr("unterminated"));
}

TEST(EnvExpandTest, InvalidNameIsAnErrorThatDoesNotEchoIt) {
  for (const char* text : {"${}", "${1ABC}", "${A-B}", "${sk-ant-secret}", "${:-x}"}) {
    EnvExpansion e = ExpandEnv(text, FakeEnv({}));
    ASSERT_EQ(e.errors.size(), 1u) << text;
    EXPECT_THAT(e.errors[0], ::testing::HasSubstr("invalid environment variable reference"));
    EXPECT_THAT(e.errors[0], ::testing::Not(::testing::HasSubstr("secret")));
  }
}

TEST(EnvExpandTest, NestedReferenceInDefaultIsAnError) {
  EnvExpansion e = ExpandEnv("${A:-${B}}", FakeEnv({{"B", "b"}}));
  ASSERT_EQ(e.errors.size(), 1u);
  EXPECT_THAT(e.errors[0], ::testing::HasSubstr("nested"));
}

TEST(EnvExpandTest, NullLookupTreatsEverythingAsUnset) {
  EnvExpansion e = ExpandEnv("${A:-d}", EnvLookup());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value, "d");
  EXPECT_FALSE(ExpandEnv("${A}", EnvLookup()).ok());
}

TEST(EnvExpandTest, ProcessEnvSeesRealEnvironment) {
  // PATH is set in any test environment; a name nobody sets is unset.
  EnvLookup env = ProcessEnv();
  EXPECT_TRUE(env("PATH").has_value());
  EXPECT_FALSE(env("CCR_SURELY_NOT_SET_1b2c3d").has_value());
  EXPECT_THAT(ExpandEnv("${CCR_SURELY_NOT_SET_1b2c3d:-ok}", env).value, "ok");
  EXPECT_THAT(ExpandEnv("", env).errors, IsEmpty());
}

}  // namespace
}  // namespace ccrelay::controlplane
