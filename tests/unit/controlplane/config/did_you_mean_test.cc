#include "controlplane/config/did_you_mean.h"

#include "gtest/gtest.h"

namespace ccrelay::controlplane {
namespace {

TEST(ConfigDidYouMeanTest, EditDistance) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("abc", ""), 3u);
  EXPECT_EQ(EditDistance("rpm_limt", "rpm_limit"), 1u);
  EXPECT_EQ(EditDistance("wieght", "weight"), 1u);  // adjacent swap counts once
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

TEST(ConfigDidYouMeanTest, SuggestsClosestWithinTwo) {
  const std::vector<std::string_view> keys = {"rpm_limit", "tpm_limit", "itpm_limit", "weight"};
  EXPECT_EQ(DidYouMean("rpm_limt", keys), "rpm_limit");
  EXPECT_EQ(DidYouMean("itpm_limt", keys), "itpm_limit");
  EXPECT_EQ(DidYouMean("wieght", keys), "weight");
  EXPECT_EQ(DidYouMean("rpmlimits", keys), "rpm_limit");  // distance 2
  EXPECT_EQ(DidYouMean("banana", keys), std::nullopt);
  EXPECT_EQ(DidYouMean("x", {"y"}), std::nullopt);  // a one-letter word suggests nothing
}

TEST(ConfigDidYouMeanTest, CaseInsensitiveMatchWinsAtAnyDistance) {
  EXPECT_EQ(DidYouMean("MAX_BODY_BYTES", {"max_header_bytes", "max_body_bytes"}), "max_body_bytes");
}

TEST(ConfigDidYouMeanTest, Suffix) {
  EXPECT_EQ(DidYouMeanSuffix("antropic", {"anthropic", "zai"}), " (did you mean \"anthropic\"?)");
  EXPECT_EQ(DidYouMeanSuffix("qqqqqq", {"anthropic", "zai"}), "");
}

}  // namespace
}  // namespace ccrelay::controlplane
