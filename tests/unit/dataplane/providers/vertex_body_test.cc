#include "dataplane/providers/vertex/vertex_body.h"

#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace ccrelay::providers::vertex {
namespace {

// `body` with every range FindCacheControlScopes found removed.
std::string WithoutScopes(std::string_view body) {
  ByteRanges ranges;
  EXPECT_TRUE(FindCacheControlScopes(body, &ranges));
  std::string out;
  size_t at = 0;
  for (const ByteRange& r : ranges) {
    EXPECT_LE(at, r.begin);
    out.append(body.substr(at, r.begin - at));
    at = r.end;
  }
  out.append(body.substr(at));
  return out;
}

TEST(VertexBodyTest, BodiesWithoutScopeAreNotWalked) {
  ByteRanges ranges;
  EXPECT_TRUE(FindCacheControlScopes(
      R"({"system":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}]})", &ranges));
  EXPECT_TRUE(ranges.empty());
}

TEST(VertexBodyTest, ScopeIsRemovedWhereverItSits) {
  EXPECT_EQ(WithoutScopes(R"({"cache_control":{"type":"ephemeral","scope":"global"}})"),
            R"({"cache_control":{"type":"ephemeral"}})");
  EXPECT_EQ(WithoutScopes(R"({"cache_control": { "scope" : "global" , "type":"ephemeral" }})"),
            R"({"cache_control": { "type":"ephemeral" }})");
  EXPECT_EQ(WithoutScopes(
                R"({"a":{"cache_control":{"type":"ephemeral","scope":{"x":[1,"}"]},"ttl":"1h"}}})"),
            R"({"a":{"cache_control":{"type":"ephemeral","ttl":"1h"}}})");
  EXPECT_EQ(WithoutScopes(R"({"cache_control":{"scope":"g"}})"), R"({"cache_control":{}})");
  // Several objects.
  EXPECT_EQ(
      WithoutScopes(R"({"system":[{"cache_control":{"type":"e","scope":"g"}}],)"
                    R"("messages":[{"content":[{"cache_control":{"scope":"g","type":"e"}}]}]})"),
      R"({"system":[{"cache_control":{"type":"e"}}],)"
      R"("messages":[{"content":[{"cache_control":{"type":"e"}}]}]})");
}

TEST(VertexBodyTest, TextMentioningItIsLeftAlone) {
  const std::string body =
      R"({"messages":[{"content":"say \"cache_control\":{\"scope\":\"global\"}"}],)"
      R"("other":{"scope":"kept"},"x":"cache_control","y":{"cache_control":"scope"}})";
  EXPECT_EQ(WithoutScopes(body), body);
}

}  // namespace
}  // namespace ccrelay::providers::vertex
