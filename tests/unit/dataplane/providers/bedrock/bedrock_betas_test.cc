#include "dataplane/providers/bedrock/bedrock_betas.h"

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace ccrelay::providers::bedrock {
namespace {

std::vector<std::string> ToVector(const BetaList& list) {
  return {list.values().begin(), list.values().end()};
}

FilteredBetas Filter(std::vector<std::string_view> header_values) {
  FilteredBetas out;
  FilterBetas(header_values, &out);
  return out;
}

using Strings = std::vector<std::string>;

TEST(BedrockBetasTest, PassesSupportedBetas) {
  const FilteredBetas betas = Filter({"context-1m-2025-08-07,effort-2025-11-24"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"context-1m-2025-08-07", "effort-2025-11-24"}));
  EXPECT_TRUE(betas.dropped.empty());
}

TEST(BedrockBetasTest, DropsFirstPartyOnlyBetas) {
  const FilteredBetas betas =
      Filter({"claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14"});
  EXPECT_TRUE(betas.kept.empty());
  EXPECT_EQ(ToVector(betas.dropped), (Strings{"claude-code-20250219", "oauth-2025-04-20",
                                              "interleaved-thinking-2025-05-14"}));
}

TEST(BedrockBetasTest, RenamesAdvancedToolUse) {
  const FilteredBetas betas = Filter({"advanced-tool-use-2025-11-20"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"tool-search-tool-2025-10-19"}));
  // The renamed beta and its Bedrock name together give one entry.
  EXPECT_EQ(ToVector(Filter({"tool-search-tool-2025-10-19, advanced-tool-use-2025-11-20"}).kept),
            (Strings{"tool-search-tool-2025-10-19"}));
}

TEST(BedrockBetasTest, UnknownBetasAreDroppedAndReported) {
  const FilteredBetas betas = Filter({"brand-new-beta-2099-01-01,effort-2025-11-24"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"effort-2025-11-24"}));
  EXPECT_EQ(ToVector(betas.dropped), (Strings{"brand-new-beta-2099-01-01"}));
}

TEST(BedrockBetasTest, TrimsSplitsAndSkipsEmptyItems) {
  const FilteredBetas betas =
      Filter({" context-1m-2025-08-07 ,\teffort-2025-11-24\t,, ,", "", ",,"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"context-1m-2025-08-07", "effort-2025-11-24"}));
  EXPECT_TRUE(betas.dropped.empty());
}

TEST(BedrockBetasTest, SeveralHeaderLinesAndDuplicates) {
  const FilteredBetas betas =
      Filter({"effort-2025-11-24, claude-code-20250219",
              "claude-code-20250219,context-1m-2025-08-07", "effort-2025-11-24"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"effort-2025-11-24", "context-1m-2025-08-07"}));
  EXPECT_EQ(ToVector(betas.dropped), (Strings{"claude-code-20250219"}));
}

TEST(BedrockBetasTest, MatchingIgnoresAsciiCaseAndGivesTheTableSpelling) {
  const FilteredBetas betas = Filter({"Context-1M-2025-08-07,EFFORT-2025-11-24"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"context-1m-2025-08-07", "effort-2025-11-24"}));
}

TEST(BedrockBetasTest, ClaudeCodeDefaultBetas) {
  // docs/claude-code-wire.md: nothing pinned, API key, third-party base URL.
  const FilteredBetas betas = Filter(
      {"claude-code-20250219,context-1m-2025-08-07,interleaved-thinking-2025-05-14,"
       "thinking-token-count-2026-05-13,context-management-2025-06-27,"
       "prompt-caching-scope-2026-01-05,mid-conversation-system-2026-04-07,effort-2025-11-24"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"context-1m-2025-08-07", "context-management-2025-06-27",
                                           "effort-2025-11-24"}));
  EXPECT_EQ(ToVector(betas.dropped),
            (Strings{"claude-code-20250219", "interleaved-thinking-2025-05-14",
                     "thinking-token-count-2026-05-13", "prompt-caching-scope-2026-01-05",
                     "mid-conversation-system-2026-04-07"}));
}

TEST(BedrockBetasTest, ClaudeCodeOtherBetasAreDropped) {
  // count_tokens, the session title call, interactive mode.
  const FilteredBetas betas = Filter(
      {"token-counting-2024-11-01", "structured-outputs-2025-12-15", "redact-thinking-2026-02-12"});
  EXPECT_TRUE(betas.kept.empty());
  EXPECT_EQ(betas.dropped.size(), 3u);
}

TEST(BedrockBetasTest, LookupBeta) {
  EXPECT_EQ(LookupBeta("context-1m-2025-08-07").support, BetaSupport::kPass);
  EXPECT_EQ(LookupBeta("context-1m-2025-08-07").bedrock_name, "context-1m-2025-08-07");
  EXPECT_EQ(LookupBeta("advanced-tool-use-2025-11-20").support, BetaSupport::kRename);
  EXPECT_EQ(LookupBeta("advanced-tool-use-2025-11-20").bedrock_name, "tool-search-tool-2025-10-19");
  EXPECT_EQ(LookupBeta("claude-code-20250219").support, BetaSupport::kDrop);
  EXPECT_TRUE(LookupBeta("claude-code-20250219").bedrock_name.empty());
  EXPECT_EQ(LookupBeta("nope-2099-01-01").support, BetaSupport::kUnknown);
  EXPECT_EQ(LookupBeta("").support, BetaSupport::kUnknown);
  EXPECT_EQ(LookupBeta(" effort-2025-11-24").support, BetaSupport::kUnknown);  // caller trims
}

TEST(BedrockBetasTest, KeptNamesPointIntoTheTable) {
  FilteredBetas betas;
  {
    std::string header = "effort-2025-11-24";
    const auto values = std::to_array<std::string_view>({header});
    FilterBetas(values, &betas);
    header.assign(header.size(), 'x');
  }
  EXPECT_EQ(ToVector(betas.kept), (Strings{"effort-2025-11-24"}));
}

TEST(BedrockBetasTest, CapacityIsBounded) {
  std::vector<std::string> storage;
  storage.reserve(51);
  for (int i = 0; i < 50; ++i) {
    storage.push_back("unknown-" + std::to_string(i));
  }
  storage.emplace_back("effort-2025-11-24");
  const std::vector<std::string_view> values(storage.begin(), storage.end());
  FilteredBetas betas;
  FilterBetas(values, &betas);
  EXPECT_EQ(betas.dropped.size(), BetaList::kCapacity);
  EXPECT_EQ(ToVector(betas.kept), (Strings{"effort-2025-11-24"}));
}

TEST(BedrockBetasTest, FilterClearsPreviousResults) {
  FilteredBetas betas;
  const auto first = std::to_array<std::string_view>({"effort-2025-11-24,nope"});
  FilterBetas(first, &betas);
  const auto second = std::to_array<std::string_view>({"context-1m-2025-08-07"});
  FilterBetas(second, &betas);
  EXPECT_EQ(ToVector(betas.kept), (Strings{"context-1m-2025-08-07"}));
  EXPECT_TRUE(betas.dropped.empty());
}

TEST(BedrockBetasTest, BetaListAdd) {
  BetaList list;
  EXPECT_TRUE(list.Add("a"));
  EXPECT_TRUE(list.Add("a"));
  EXPECT_EQ(list.size(), 1u);
  std::vector<std::string> names;
  names.reserve(BetaList::kCapacity);
  for (size_t i = 1; i < BetaList::kCapacity; ++i) {
    names.push_back("b" + std::to_string(i));
  }
  for (const std::string& name : names) {
    EXPECT_TRUE(list.Add(name));
  }
  EXPECT_EQ(list.size(), BetaList::kCapacity);
  EXPECT_FALSE(list.Add("overflow"));
  EXPECT_TRUE(list.Add("a"));  // already there
  EXPECT_FALSE(list.Contains("overflow"));
  list.Clear();
  EXPECT_TRUE(list.empty());
}

}  // namespace
}  // namespace ccrelay::providers::bedrock
