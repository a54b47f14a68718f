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

// The search for "scope" filters 64 positions a round, then goes one at a time near the end: it
// must find the key at every offset of a round and in the last bytes, and near misses ("scap",
// "escape", "scop") must not count.
TEST(VertexBodyTest, ScopeIsFoundAtEveryOffset) {
  const std::string tail = R"(,"y":")" + std::string(80, 'b') + R"("})";
  for (size_t pad = 0; pad < 80; ++pad) {
    const std::string prefix = R"({"x":")" + std::string(pad, 'a') + R"(",)";
    EXPECT_EQ(WithoutScopes(prefix + R"("cache_control":{"type":"e","scope":"g"})" + tail),
              prefix + R"("cache_control":{"type":"e"})" + tail)
        << "pad " << pad;
    EXPECT_EQ(WithoutScopes(prefix + R"("cache_control":{"scope":1}})"),
              prefix + R"("cache_control":{}})")
        << "pad " << pad;
  }
  EXPECT_EQ(WithoutScopes(R"({"cache_control":{"scope":1}})"), R"({"cache_control":{}})");
  std::string escapes = R"({"t":")";
  for (int i = 0; i < 100; ++i) {
    escapes += R"(escape "scop" scopes scap )";
  }
  escapes += R"(","cache_control":{"scopes":1,"Scope":2,"sc0pe":3}})";
  ByteRanges ranges;
  EXPECT_TRUE(FindCacheControlScopes(escapes, &ranges));
  EXPECT_TRUE(ranges.empty());
  EXPECT_TRUE(FindCacheControlScopes("", &ranges));
  EXPECT_TRUE(FindCacheControlScopes("\"scope", &ranges));
  EXPECT_TRUE(ranges.empty());
}

TEST(VertexBodyTest, TextMentioningItIsLeftAlone) {
  const std::string body =
      R"({"messages":[{"content":"say \"cache_control\":{\"scope\":\"global\"}"}],)"
      R"("other":{"scope":"kept"},"x":"cache_control","y":{"cache_control":"scope"}})";
  EXPECT_EQ(WithoutScopes(body), body);
}

}  // namespace
}  // namespace ccrelay::providers::vertex
