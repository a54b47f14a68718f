// The model-name pattern of `model_mapping` and `pricing` keys: exact, or a prefix with a
// trailing '*'; the config readers' check of where a '*' may stand.
#include "dataplane/routing/model_pattern.h"

#include "gtest/gtest.h"

namespace ccrelay::routing {
namespace {

TEST(ModelPatternTest, NameWithoutStarMatchesExactly) {
  const ModelPattern p("claude-sonnet-4-5");
  EXPECT_TRUE(p.Matches("claude-sonnet-4-5"));
  EXPECT_FALSE(p.Matches("claude-sonnet-4-5-20250929"));
  EXPECT_FALSE(p.Matches("claude-sonnet-4"));
  EXPECT_FALSE(p.Matches(""));
}

TEST(ModelPatternTest, TrailingStarMatchesByPrefix) {
  const ModelPattern p("glm-*");
  EXPECT_TRUE(p.Matches("glm-4.7"));
  EXPECT_TRUE(p.Matches("glm-")) << "the prefix itself";
  EXPECT_FALSE(p.Matches("glm"));
  EXPECT_FALSE(p.Matches("xglm-4.7"));
  EXPECT_TRUE(ModelPattern("*").Matches("any-model")) << "a lone '*' matches every name";
  EXPECT_TRUE(ModelPattern("*").Matches(""));
}

TEST(ModelPatternTest, DefaultMatchesOnlyTheEmptyName) {
  EXPECT_TRUE(ModelPattern().Matches(""));
  EXPECT_FALSE(ModelPattern().Matches("m"));
}

TEST(ModelPatternTest, ToStringGivesTheWrittenForm) {
  EXPECT_EQ(ModelPattern("glm-*").ToString(), "glm-*");
  EXPECT_EQ(ModelPattern("claude-sonnet-4-5").ToString(), "claude-sonnet-4-5");
  EXPECT_EQ(ModelPattern("*").ToString(), "*");
  EXPECT_EQ(ModelPattern().ToString(), "");
}

TEST(ModelPatternTest, ValidateAllowsAStarOnlyAtTheEnd) {
  EXPECT_TRUE(ModelPattern::Validate("claude-sonnet-4-5").ok());
  EXPECT_TRUE(ModelPattern::Validate("glm-*").ok());
  EXPECT_TRUE(ModelPattern::Validate("*").ok());
  EXPECT_TRUE(ModelPattern::Validate("").ok()) << "empty names are the readers' own check";
  for (const char* bad : {"claude-*-latest", "*-latest", "glm-**", "a*b*"}) {
    const absl::Status s = ModelPattern::Validate(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message(), "'*' is only allowed at the end of a model name (a prefix match)")
        << bad;
  }
}

TEST(ModelPatternTest, StarBeforeTheEndIsLiteralWhenCompiled) {
  // The data plane compiles what the snapshot carries (the config readers reject this name).
  const ModelPattern p("claude-*-latest");
  EXPECT_TRUE(p.Matches("claude-*-latest"));
  EXPECT_FALSE(p.Matches("claude-sonnet-latest"));
}

}  // namespace
}  // namespace ccrelay::routing
