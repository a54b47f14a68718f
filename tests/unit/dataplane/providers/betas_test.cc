#include "dataplane/providers/betas.h"

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/fields.hpp>

#include "gtest/gtest.h"

namespace ccrelay::providers {
namespace {

using Strings = std::vector<std::string>;

Strings ToVector(const BetaList& list) { return {list.values().begin(), list.values().end()}; }

Strings Names(const DroppedBetas& dropped) {
  Strings out;
  for (const auto& item : dropped.items()) {
    out.emplace_back(item.name);
  }
  return out;
}

Strings Labels(const DroppedBetas& dropped) {
  Strings out;
  for (const auto& item : dropped.items()) {
    out.emplace_back(item.label);
  }
  return out;
}

FilteredBetas FilterWith(const BetaFilter& filter, std::vector<std::string_view> header_values) {
  FilteredBetas out;
  filter.Filter(header_values, &out);
  return out;
}

FilteredBetas Bedrock(std::vector<std::string_view> header_values) {
  return FilterWith(*BetaFilter::Default("bedrock"), std::move(header_values));
}

FilteredBetas Vertex(std::vector<std::string_view> header_values) {
  return FilterWith(*BetaFilter::Default("vertex"), std::move(header_values));
}

FilteredBetas Azure(std::vector<std::string_view> header_values) {
  return FilterWith(*BetaFilter::Default("azure"), std::move(header_values));
}

// Claude Code 2.1's betas with nothing pinned (docs/claude-code-wire.md).
constexpr std::string_view kClaudeCodeBetas =
    "claude-code-20250219,context-1m-2025-08-07,interleaved-thinking-2025-05-14,"
    "thinking-token-count-2026-05-13,context-management-2025-06-27,"
    "prompt-caching-scope-2026-01-05,mid-conversation-system-2026-04-07,effort-2025-11-24";

// ---- Bedrock: today's table, unchanged ----

TEST(BetasTest, BedrockPassesSupportedBetas) {
  const FilteredBetas betas = Bedrock({"context-1m-2025-08-07,effort-2025-11-24"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"context-1m-2025-08-07", "effort-2025-11-24"}));
  EXPECT_TRUE(betas.dropped.empty());
}

TEST(BetasTest, BedrockDropsFirstPartyOnlyBetas) {
  const FilteredBetas betas =
      Bedrock({"claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14"});
  EXPECT_TRUE(betas.kept.empty());
  EXPECT_EQ(Names(betas.dropped), (Strings{"claude-code-20250219", "oauth-2025-04-20",
                                           "interleaved-thinking-2025-05-14"}));
}

TEST(BetasTest, BedrockRenamesAdvancedToolUse) {
  EXPECT_EQ(ToVector(Bedrock({"advanced-tool-use-2025-11-20"}).kept),
            (Strings{"tool-search-tool-2025-10-19"}));
  // The renamed beta and its Bedrock name together give one entry.
  EXPECT_EQ(ToVector(Bedrock({"tool-search-tool-2025-10-19, advanced-tool-use-2025-11-20"}).kept),
            (Strings{"tool-search-tool-2025-10-19"}));
}

TEST(BetasTest, UnknownBetasAreDroppedOnBedrockAndLabelledOther) {
  const FilteredBetas betas = Bedrock({"brand-new-beta-2099-01-01,effort-2025-11-24"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"effort-2025-11-24"}));
  EXPECT_EQ(Names(betas.dropped), (Strings{"brand-new-beta-2099-01-01"}));
  EXPECT_EQ(Labels(betas.dropped), (Strings{"other"}));
}

TEST(BetasTest, TrimsSplitsAndSkipsEmptyItems) {
  const FilteredBetas betas =
      Bedrock({" context-1m-2025-08-07 ,\teffort-2025-11-24\t,, ,", "", ",,"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"context-1m-2025-08-07", "effort-2025-11-24"}));
  EXPECT_TRUE(betas.dropped.empty());
}

TEST(BetasTest, SeveralHeaderLinesAndDuplicates) {
  const FilteredBetas betas =
      Bedrock({"effort-2025-11-24, claude-code-20250219",
               "claude-code-20250219,context-1m-2025-08-07", "effort-2025-11-24"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"effort-2025-11-24", "context-1m-2025-08-07"}));
  EXPECT_EQ(Names(betas.dropped), (Strings{"claude-code-20250219"}));
}

TEST(BetasTest, MatchingIgnoresAsciiCaseAndGivesTheTableSpelling) {
  const FilteredBetas betas = Bedrock({"Context-1M-2025-08-07,EFFORT-2025-11-24,OAuth-2025-04-20"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"context-1m-2025-08-07", "effort-2025-11-24"}));
  EXPECT_EQ(Names(betas.dropped), (Strings{"OAuth-2025-04-20"}));
  EXPECT_EQ(Labels(betas.dropped), (Strings{"oauth-2025-04-20"}));
}

TEST(BetasTest, BedrockClaudeCodeDefaultBetas) {
  const FilteredBetas betas = Bedrock({kClaudeCodeBetas});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"context-1m-2025-08-07", "context-management-2025-06-27",
                                           "effort-2025-11-24"}));
  EXPECT_EQ(Names(betas.dropped),
            (Strings{"claude-code-20250219", "interleaved-thinking-2025-05-14",
                     "thinking-token-count-2026-05-13", "prompt-caching-scope-2026-01-05",
                     "mid-conversation-system-2026-04-07"}));
  // Known names keep their name as the metric label.
  EXPECT_EQ(Labels(betas.dropped), Names(betas.dropped));
}

TEST(BetasTest, BedrockDropsClaudeCodesOtherBetas) {
  const FilteredBetas betas = Bedrock(
      {"token-counting-2024-11-01", "structured-outputs-2025-12-15", "redact-thinking-2026-02-12"});
  EXPECT_TRUE(betas.kept.empty());
  EXPECT_EQ(betas.dropped.size(), 3u);
}

TEST(BetasTest, LookupInTable) {
  const BetaTable& t = *BuiltinBetaTable("bedrock");
  EXPECT_EQ(LookupInTable(t, "context-1m-2025-08-07").support, BetaSupport::kPass);
  EXPECT_EQ(LookupInTable(t, "context-1m-2025-08-07").name, "context-1m-2025-08-07");
  EXPECT_EQ(LookupInTable(t, "advanced-tool-use-2025-11-20").support, BetaSupport::kRename);
  EXPECT_EQ(LookupInTable(t, "advanced-tool-use-2025-11-20").name, "tool-search-tool-2025-10-19");
  EXPECT_EQ(LookupInTable(t, "claude-code-20250219").support, BetaSupport::kDrop);
  EXPECT_TRUE(LookupInTable(t, "claude-code-20250219").name.empty());
  EXPECT_EQ(LookupInTable(t, "nope-2099-01-01").support, BetaSupport::kUnknown);
  EXPECT_EQ(LookupInTable(t, "").support, BetaSupport::kUnknown);
  EXPECT_EQ(LookupInTable(t, " effort-2025-11-24").support, BetaSupport::kUnknown);  // trimmed
  EXPECT_TRUE(DropsUnknownBetas(t));
  EXPECT_TRUE(DropsUnknownBetas(*BuiltinBetaTable("vertex")));
  EXPECT_FALSE(DropsUnknownBetas(*BuiltinBetaTable("azure")));
  for (std::string_view type : {"anthropic", "zai", "ollama", "nope"}) {
    EXPECT_EQ(BuiltinBetaTable(type), nullptr) << type;
    EXPECT_EQ(BetaFilter::Default(type), nullptr) << type;
    EXPECT_EQ(BetaFilter::ForProvider(type, {}), nullptr) << type;
  }
}

TEST(BetasTest, KeptNamesPointIntoTheTable) {
  FilteredBetas betas;
  {
    std::string header = "effort-2025-11-24";
    const auto values = std::to_array<std::string_view>({header});
    BetaFilter::Default("bedrock")->Filter(values, &betas);
    header.assign(header.size(), 'x');
  }
  EXPECT_EQ(ToVector(betas.kept), (Strings{"effort-2025-11-24"}));
}

TEST(BetasTest, CapacityIsBounded) {
  std::vector<std::string> storage;
  storage.reserve(51);
  for (int i = 0; i < 50; ++i) {
    storage.push_back("unknown-" + std::to_string(i));
  }
  storage.emplace_back("effort-2025-11-24");
  const std::vector<std::string_view> values(storage.begin(), storage.end());
  const FilteredBetas betas = Bedrock(values);
  EXPECT_EQ(betas.dropped.size(), DroppedBetas::kCapacity);
  EXPECT_EQ(ToVector(betas.kept), (Strings{"effort-2025-11-24"}));
}

TEST(BetasTest, FilterClearsPreviousResults) {
  FilteredBetas betas;
  const auto first = std::to_array<std::string_view>({"effort-2025-11-24,nope"});
  BetaFilter::Default("bedrock")->Filter(first, &betas);
  const auto second = std::to_array<std::string_view>({"context-1m-2025-08-07"});
  BetaFilter::Default("bedrock")->Filter(second, &betas);
  EXPECT_EQ(ToVector(betas.kept), (Strings{"context-1m-2025-08-07"}));
  EXPECT_TRUE(betas.dropped.empty());
}

TEST(BetasTest, BetaListAdd) {
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

// ---- Vertex: LiteLLM's vertex_ai section, unknown dropped ----

TEST(BetasTest, VertexClaudeCodeDefaultBetas) {
  const FilteredBetas betas = Vertex({kClaudeCodeBetas});
  EXPECT_EQ(ToVector(betas.kept),
            (Strings{"context-1m-2025-08-07", "interleaved-thinking-2025-05-14",
                     "context-management-2025-06-27"}));
  EXPECT_EQ(Names(betas.dropped),
            (Strings{"claude-code-20250219", "thinking-token-count-2026-05-13",
                     "prompt-caching-scope-2026-01-05", "mid-conversation-system-2026-04-07",
                     "effort-2025-11-24"}));
}

TEST(BetasTest, VertexRenamesAndDropsUnknown) {
  const FilteredBetas betas =
      Vertex({"advanced-tool-use-2025-11-20,web-search-2025-03-05,web-fetch-2025-09-10,nope-1"});
  EXPECT_EQ(ToVector(betas.kept),
            (Strings{"tool-search-tool-2025-10-19", "web-search-2025-03-05"}));
  EXPECT_EQ(Names(betas.dropped), (Strings{"web-fetch-2025-09-10", "nope-1"}));
  EXPECT_EQ(Labels(betas.dropped), (Strings{"web-fetch-2025-09-10", "other"}));
}

// ---- Azure: unknown passes, LiteLLM's azure_ai nulls dropped ----

TEST(BetasTest, AzurePassesUnknownAndDropsKnownRefusals) {
  const FilteredBetas betas = Azure(
      {"claude-code-20250219,brand-new-2099-01-01,fine-grained-tool-streaming-2025-05-14,"
       "web-search-2025-03-05,token-efficient-tools-2025-02-19"});
  EXPECT_EQ(ToVector(betas.kept),
            (Strings{"claude-code-20250219", "brand-new-2099-01-01", "web-search-2025-03-05"}));
  EXPECT_EQ(Names(betas.dropped), (Strings{"fine-grained-tool-streaming-2025-05-14",
                                           "token-efficient-tools-2025-02-19"}));
}

// ---- Policies ----

TEST(BetasTest, PolicyDenyRenameAllowOverTheTable) {
  BetaPolicy policy;
  policy.allow = {"effort-2025-11-24", "my-private-beta"};
  policy.deny = {"context-1m-2025-08-07"};
  policy.rename = {{"claude-code-20250219", "claude-code-renamed"}};
  const auto filter = BetaFilter::ForProvider("vertex", policy);
  ASSERT_NE(filter, nullptr);
  const FilteredBetas betas = FilterWith(
      *filter, {"Context-1M-2025-08-07,effort-2025-11-24,my-private-beta,claude-code-20250219,"
                "web-fetch-2025-09-10,unheard-of"});
  EXPECT_EQ(ToVector(betas.kept),
            (Strings{"effort-2025-11-24", "my-private-beta", "claude-code-renamed"}));
  EXPECT_EQ(Names(betas.dropped),
            (Strings{"Context-1M-2025-08-07", "web-fetch-2025-09-10", "unheard-of"}));
  // A denied name is labelled with the policy's spelling.
  EXPECT_EQ(Labels(betas.dropped),
            (Strings{"context-1m-2025-08-07", "web-fetch-2025-09-10", "other"}));
}

TEST(BetasTest, PolicyOnATypeWithoutTableFiltersOnlyWhatItSays) {
  BetaPolicy policy;
  policy.deny = {"private-deny-me"};
  const auto filter = BetaFilter::ForProvider("anthropic", policy);
  ASSERT_NE(filter, nullptr);
  const FilteredBetas betas =
      FilterWith(*filter, {"claude-code-20250219,private-deny-me,anything-else"});
  EXPECT_EQ(ToVector(betas.kept), (Strings{"claude-code-20250219", "anything-else"}));
  EXPECT_EQ(Names(betas.dropped), (Strings{"private-deny-me"}));
  EXPECT_EQ(Labels(betas.dropped), (Strings{"private-deny-me"}));
}

TEST(BetasTest, HeaderHelpers) {
  http::RequestFields headers;
  headers.insert("anthropic-beta", "a-1, b-2");
  headers.insert("x-other", "x");
  headers.insert("Anthropic-Beta", "c-3");
  FilteredBetas betas;
  BetaPolicy policy;
  policy.deny = {"b-2"};
  FilterBetaHeaders(*BetaFilter::ForProvider("zai", policy), headers, &betas);
  EXPECT_EQ(ToVector(betas.kept), (Strings{"a-1", "c-3"}));
  EXPECT_EQ(betas.dropped.Joined(), "b-2");
  std::string head;
  AppendBetaHeader(betas.kept, &head);
  EXPECT_EQ(head, "anthropic-beta: a-1,c-3\r\n");
  head.clear();
  AppendBetaHeader(BetaList(), &head);
  EXPECT_EQ(head, "");
}

TEST(BetasTest, KnownBetaName) {
  EXPECT_EQ(KnownBetaName("EFFORT-2025-11-24"), "effort-2025-11-24");
  EXPECT_EQ(KnownBetaName("compact-2026-09-04"), "compact-2026-09-04");
  EXPECT_EQ(KnownBetaName("nope"), "");
}

}  // namespace
}  // namespace ccrelay::providers
