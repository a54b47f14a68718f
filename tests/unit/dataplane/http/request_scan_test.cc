#include "dataplane/http/request_scan.h"

#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include <nlohmann/json.hpp>

namespace ccrelay::http {
namespace {

// Scans a copy of `body` and checks that the scan left its bytes alone.
absl::StatusOr<RequestInfo> Scan(std::string_view body) {
  std::string copy(body);
  auto info = ScanRequestBody(&copy);
  EXPECT_EQ(copy, body);
  return info;
}

std::string Splice(std::string_view body, const RequestInfo& info, std::string_view model) {
  std::string out(body.substr(0, info.model_token_begin));
  out.append(JsonQuote(model));
  out.append(body.substr(info.model_token_end));
  return out;
}

void ExpectInvalidJson(std::string_view body) {
  auto info = Scan(body);
  ASSERT_FALSE(info.ok()) << body;
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(info.status().message().substr(0, 31), "request body is not valid JSON:")
      << info.status().message();
}

constexpr std::string_view kTypicalBody =
    R"({"model":"claude-sonnet-4-5-20250929","max_tokens":32000,)"
    R"("messages":[{"role":"user","content":[{"type":"text","text":"hi \"model\": \"x\"",)"
    R"("cache_control":{"type":"ephemeral"}}]}],"system":[{"type":"text","text":"You are"}],)"
    R"("tools":[],"metadata":{"user_id":"user_abc_account_123_session_5e0c-11"},)"
    R"("stream":true})";

TEST(RequestScanTest, ReadsModelStreamAndMetadata) {
  auto info = Scan(kTypicalBody);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model, "claude-sonnet-4-5-20250929");
  EXPECT_TRUE(info->stream);
  EXPECT_EQ(info->user_id, "user_abc_account_123_session_5e0c-11");
  EXPECT_EQ(info->session_id, "5e0c-11");
  EXPECT_EQ(
      kTypicalBody.substr(info->model_token_begin, info->model_token_end - info->model_token_begin),
      R"("claude-sonnet-4-5-20250929")");
}

TEST(RequestScanTest, SpliceRoundTripChangesOnlyTheModel) {
  auto info = Scan(kTypicalBody);
  ASSERT_TRUE(info.ok()) << info.status();
  const std::string spliced = Splice(kTypicalBody, *info, "other");
  // Every byte outside the token is identical.
  EXPECT_EQ(spliced.substr(0, info->model_token_begin),
            kTypicalBody.substr(0, info->model_token_begin));
  EXPECT_EQ(spliced.substr(info->model_token_begin + 7),
            kTypicalBody.substr(info->model_token_end));
  // Valid JSON whose only change is the model.
  nlohmann::json before = nlohmann::json::parse(kTypicalBody, nullptr, false);
  nlohmann::json after = nlohmann::json::parse(spliced, nullptr, false);
  ASSERT_FALSE(after.is_discarded());
  before["model"] = "other";
  EXPECT_EQ(after, before);
  // And it scans again, with the new model in the same place.
  auto again = Scan(spliced);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->model, "other");
  EXPECT_EQ(again->model_token_begin, info->model_token_begin);
  EXPECT_EQ(again->model_token_end, info->model_token_begin + 7);
  EXPECT_TRUE(again->stream);
}

TEST(RequestScanTest, TokenRangeExcludesSurroundingWhitespace) {
  constexpr std::string_view kBody = "{ \"model\" :\t\"m-1\"  \n , \"stream\" : false }";
  auto info = Scan(kBody);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model, "m-1");
  EXPECT_EQ(kBody.substr(info->model_token_begin, info->model_token_end - info->model_token_begin),
            "\"m-1\"");
  EXPECT_EQ(Splice(kBody, *info, "x\"y"), "{ \"model\" :\t\"x\\\"y\"  \n , \"stream\" : false }");
}

TEST(RequestScanTest, ModelAsLastFieldBeforeClosingBrace) {
  constexpr std::string_view kBody = R"({"messages":[],"model":"last"})";
  auto info = Scan(kBody);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model, "last");
  EXPECT_EQ(Splice(kBody, *info, "new"), R"({"messages":[],"model":"new"})");
}

TEST(RequestScanTest, EscapedModelIsDecodedAndTokenKeepsEscapes) {
  constexpr std::string_view kBody = R"({"model":"claude\u002dx\"q\\","stream":true})";
  auto info = Scan(kBody);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model, "claude-x\"q\\");
  EXPECT_EQ(kBody.substr(info->model_token_begin, info->model_token_end - info->model_token_begin),
            R"("claude\u002dx\"q\\")");
  // Re-quoting the decoded model gives back the same value.
  auto again = Scan(Splice(kBody, *info, info->model));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->model, info->model);
}

TEST(RequestScanTest, EscapedKeyIsRecognised) {
  auto info = Scan(R"({"mod\u0065l":"m","str\u0065am":true})");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model, "m");
  EXPECT_TRUE(info->stream);
}

TEST(RequestScanTest, NonAsciiModel) {
  auto info = Scan("{\"model\":\"mod\xC3\xA8le-\xE2\x82\xAC\"}");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model, "mod\xC3\xA8le-\xE2\x82\xAC");
}

TEST(RequestScanTest, StreamValues) {
  auto t = Scan(R"({"model":"m","stream":true})");
  auto f = Scan(R"({"model":"m","stream":false})");
  auto absent = Scan(R"({"model":"m"})");
  auto str = Scan(R"({"model":"m","stream":"true"})");
  auto num = Scan(R"({"model":"m","stream":1})");
  auto null = Scan(R"({"model":"m","stream":null})");
  auto obj = Scan(R"({"model":"m","stream":{"a":true}})");
  for (const auto* r : {&t, &f, &absent, &str, &num, &null, &obj}) {
    ASSERT_TRUE(r->ok()) << r->status();
  }
  EXPECT_TRUE(t->stream);
  EXPECT_FALSE(f->stream);
  EXPECT_FALSE(absent->stream);
  EXPECT_FALSE(str->stream);
  EXPECT_FALSE(num->stream);
  EXPECT_FALSE(null->stream);
  EXPECT_FALSE(obj->stream);
}

TEST(RequestScanTest, LastStreamWins) {
  auto info = Scan(R"({"stream":false,"model":"m","stream":true})");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->stream);
  info = Scan(R"({"stream":true,"model":"m","stream":false})");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->stream);
}

TEST(RequestScanTest, FirstModelWins) {
  constexpr std::string_view kBody = R"({"model":"first","x":1,"model":"second"})";
  auto info = Scan(kBody);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model, "first");
  EXPECT_EQ(info->model_token_begin, 9u);
  EXPECT_EQ(info->model_token_end, 16u);
}

TEST(RequestScanTest, MetadataJsonStringUserId) {
  constexpr std::string_view kBody =
      R"({"model":"m","metadata":{"user_id":"{\"device_id\":\"d\",\"account_uuid\":\"\",)"
      R"(\"session_id\":\"5e0c8f2a-1111-2222-3333-444455556666\"}"}})";
  auto info = Scan(kBody);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(
      info->user_id,
      R"({"device_id":"d","account_uuid":"","session_id":"5e0c8f2a-1111-2222-3333-444455556666"})");
  EXPECT_EQ(info->session_id, "5e0c8f2a-1111-2222-3333-444455556666");
}

TEST(RequestScanTest, MetadataOtherForms) {
  auto no_metadata = Scan(R"({"model":"m"})");
  auto number_id = Scan(R"({"model":"m","metadata":{"user_id":42}})");
  auto null_id = Scan(R"({"model":"m","metadata":{"user_id":null}})");
  auto string_metadata = Scan(R"({"model":"m","metadata":"user_x_session_y"})");
  auto array_metadata = Scan(R"({"model":"m","metadata":[{"user_id":"user_x_session_y"}]})");
  auto plain = Scan(R"({"model":"m","metadata":{"other":1,"user_id":"alice"}})");
  for (const auto* r :
       {&no_metadata, &number_id, &null_id, &string_metadata, &array_metadata, &plain}) {
    ASSERT_TRUE(r->ok()) << r->status();
  }
  EXPECT_EQ(no_metadata->user_id, "");
  EXPECT_EQ(number_id->user_id, "");
  EXPECT_EQ(null_id->user_id, "");
  EXPECT_EQ(string_metadata->user_id, "");
  EXPECT_EQ(array_metadata->user_id, "");
  EXPECT_EQ(plain->user_id, "alice");
  EXPECT_EQ(plain->session_id, "");
}

TEST(RequestScanTest, MalformedMetadataIsInvalidJson) {
  ExpectInvalidJson(R"({"model":"m","metadata":{"user_id":"x" "y"}})");
  ExpectInvalidJson(R"({"model":"m","metadata":{"user_id"}})");
}

TEST(RequestScanTest, TruncatedBodyIsAnErrorEvenAfterModel) {
  ExpectInvalidJson(R"({"model":"x", "messages":[)");
  ExpectInvalidJson(R"({"model":"x", "messages":[{"role":"user","content":"hi"})");
  ExpectInvalidJson(R"({"model":"x", "messages":[{"role":"user","content":"hi)");
  ExpectInvalidJson(R"({"model":"x",)");
  ExpectInvalidJson(R"({"model":"x")");
  ExpectInvalidJson(R"({"model":"x)");
  ExpectInvalidJson(R"({"model")");
  ExpectInvalidJson("{");
}

TEST(RequestScanTest, TrailingContentIsAnError) {
  ExpectInvalidJson(R"({"model":"x"} xyz)");
  ExpectInvalidJson(R"({"model":"x"}})");
  ExpectInvalidJson(R"({"model":"x"}{"model":"y"})");
  ExpectInvalidJson(R"({"model":"x"} 1)");
  ExpectInvalidJson(R"({"model":"x"},)");
}

TEST(RequestScanTest, TrailingWhitespaceIsFine) {
  auto info = Scan("\n {\"model\":\"x\"} \r\n\t ");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model, "x");
}

// Skipped values are checked structurally only (see request_scan.h): what is tested here is what
// stage 1 and the top-level iteration catch. A bad scalar or a `[...}` inside a skipped value is
// not caught; such a body goes upstream, which rejects it.
TEST(RequestScanTest, MalformedSkippedValuesAreErrors) {
  ExpectInvalidJson(R"({"model":"x","messages":[1,2})");
  ExpectInvalidJson(R"({"model":"x","messages":[[1,2]})");
  ExpectInvalidJson(R"({"model":"x","a" 1})");
  ExpectInvalidJson(R"({"model":"x" "a":1})");
  ExpectInvalidJson(R"({"model":"x",})");
  ExpectInvalidJson("{\"model\":\"x\",\"a\":\"\xFF\"}");       // invalid UTF-8
  ExpectInvalidJson("{\"model\":\"x\",\"a\":\"tab\there\"}");  // raw control character
}

TEST(RequestScanTest, NotAnObject) {
  ExpectInvalidJson(R"(["model","x"])");
  ExpectInvalidJson(R"("model")");
  ExpectInvalidJson("42");
  ExpectInvalidJson("null");
  ExpectInvalidJson("");
  ExpectInvalidJson("   ");
  ExpectInvalidJson("model=x");
}

TEST(RequestScanTest, ModelMissingOrWrongType) {
  for (std::string_view body :
       {R"({})", R"({"stream":true})", R"({"model":42})", R"({"model":null})", R"({"model":["x"]})",
        R"({"model":{"id":"x"}})", R"({"models":"x"})", R"({"x":{"model":"nested"}})",
        R"({"model":1,"model":"second"})"}) {
    auto info = Scan(body);
    ASSERT_FALSE(info.ok()) << body;
    EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(info.status().message(), "model: field required") << body;
  }
}

TEST(RequestScanTest, ModelEmpty) {
  auto info = Scan(R"({"model":"","stream":true})");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(info.status().message(), "model: must not be empty");
}

TEST(RequestScanTest, InvalidJsonTakesPrecedenceOverModelErrors) {
  ExpectInvalidJson(R"({"model":42,"messages":[)");
  ExpectInvalidJson(R"({"model":"","messages":[)");
}

std::string BigBody(size_t target_size, std::string_view model) {
  std::string body = R"({"model":)";
  body.append(JsonQuote(model));
  body.append(R"(,"max_tokens":64000,"messages":[)");
  const std::string chunk =
      R"({"role":"user","content":[{"type":"text","text":"line with \"quotes\", \\ and \u00e9 )"
      R"({\"stream\":false} [brackets] {braces}"},{"type":"tool_result","tool_use_id":"t1",)"
      R"("content":[{"type":"text","text":"ok"}],"is_error":false}]},)";
  while (body.size() < target_size) {
    body.append(chunk);
  }
  body.append(R"({"role":"assistant","content":"done"}],"metadata":{"user_id":)");
  body.append(R"("user_h_account_a_session_big-1"},"stream":true})");
  return body;
}

TEST(RequestScanTest, FiveMegabyteBodyModelFirstStreamLast) {
  const std::string body = BigBody(5 << 20, "claude-opus-4-1");
  ASSERT_GT(body.size(), 5u << 20);
  auto info = Scan(body);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model, "claude-opus-4-1");
  EXPECT_TRUE(info->stream);
  EXPECT_EQ(info->session_id, "big-1");
  EXPECT_EQ(info->model_token_begin, 9u);
  EXPECT_EQ(info->model_token_end, 9u + 17u);
  const std::string spliced = Splice(body, *info, "glm-4.6");
  auto again = Scan(spliced);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->model, "glm-4.6");
  EXPECT_TRUE(again->stream);
  // The same body cut anywhere in the middle is rejected.
  ExpectInvalidJson(std::string_view(body).substr(0, body.size() / 2));
  ExpectInvalidJson(std::string_view(body).substr(0, body.size() - 1));
}

TEST(RequestScanTest, BodyLargerThanRetainedParserCapacity) {
  const std::string body = BigBody(9 << 20, "m");
  auto info = Scan(body);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model, "m");
  EXPECT_TRUE(info->stream);
  // A small body afterwards still scans (and fails) correctly on this thread.
  auto small = Scan(R"({"model":"s"})");
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->model, "s");
  ExpectInvalidJson(R"({"model":"s")");
}

TEST(RequestScanTest, SessionIdFromUserIdForms) {
  EXPECT_EQ(
      SessionIdFromUserId(R"({"device_id":"d","account_uuid":"","session_id":"5e0c8f2a-aaaa"})"),
      "5e0c8f2a-aaaa");
  EXPECT_EQ(SessionIdFromUserId(R"( {"session_id":"s1","session_id":"s2"})"), "s1");
  EXPECT_EQ(SessionIdFromUserId(R"({"device_id":"d"})"), "");
  EXPECT_EQ(SessionIdFromUserId(R"({"session_id":7})"), "");
  EXPECT_EQ(SessionIdFromUserId(R"({"session_id":"s)"), "");
  EXPECT_EQ(SessionIdFromUserId(R"({"x":"_session_abc"})"), "");
  EXPECT_EQ(
      SessionIdFromUserId("user_0123abcd_account_11111111-2222-3333-4444-555555555555_session_"
                          "66666666-7777-8888-9999-000000000000"),
      "66666666-7777-8888-9999-000000000000");
  EXPECT_EQ(SessionIdFromUserId("user_0123abcd_account__session_"), "");
  EXPECT_EQ(SessionIdFromUserId("alice"), "");
  EXPECT_EQ(SessionIdFromUserId(""), "");
}

TEST(RequestScanTest, JsonQuoteEscapes) {
  EXPECT_EQ(JsonQuote(""), R"("")");
  EXPECT_EQ(JsonQuote("plain-model_1.0"), R"("plain-model_1.0")");
  EXPECT_EQ(JsonQuote("a\"b\\c/d"), R"("a\"b\\c/d")");
  EXPECT_EQ(JsonQuote("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(JsonQuote(std::string_view("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(JsonQuote("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
}

TEST(RequestScanTest, JsonQuoteReplacesIllFormedUtf8) {
  EXPECT_EQ(JsonQuote("a\xFF"
                      "b"),
            "\"a\xEF\xBF\xBD"
            "b\"");
  EXPECT_EQ(JsonQuote("\xC3"), "\"\xEF\xBF\xBD\"");                  // truncated sequence
  EXPECT_EQ(JsonQuote("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // overlong
  EXPECT_EQ(JsonQuote("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // surrogate
  EXPECT_EQ(JsonQuote("\xC3\xA9\xFF"), "\"\xC3\xA9\xEF\xBF\xBD\"");  // valid kept beside invalid
}

}  // namespace
}  // namespace ccrelay::http

namespace ccrelay::http {
namespace {

TEST(RequestScanTest, ModelMemberBeginAndAnthropicVersion) {
  std::string body = R"({"max_tokens":1, "mod\u0065l" :  "m","anthropic_version":"v"})";
  auto info = ScanRequestBody(&body);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(body.substr(info->model_member_begin, info->model_token_end - info->model_member_begin),
            R"("mod\u0065l" :  "m")");
  EXPECT_TRUE(info->has_anthropic_version);
  std::string plain = R"({"model":"m"})";
  info = ScanRequestBody(&plain);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->model_member_begin, 1u);
  EXPECT_FALSE(info->has_anthropic_version);
}

}  // namespace
}  // namespace ccrelay::http

namespace ccrelay::http {
namespace {

TEST(RequestScanTest, RoutingFeatures) {
  // Claude Code's shape: adaptive thinking, custom tools with long schemas, a server tool.
  std::string body = R"({"model":"m","max_tokens":64000,"thinking":{"type":"adaptive"},)"
                     R"("tools":[{"name":"Bash","description":"run \"type\":\"web_search\"",)"
                     R"("input_schema":{"type":"object","properties":{"type":{"type":"string"}}}},)"
                     R"({"type":"web_search_20250305","name":"web_search","max_uses":8},)"
                     R"({"type":"custom","name":"x","input_schema":{}}],"stream":true})";
  auto info = ScanRequestBody(&body);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->max_tokens, 64000);
  EXPECT_TRUE(info->thinking);
  EXPECT_EQ(info->tool_count, 3u);
  EXPECT_EQ(info->server_tools, static_cast<uint32_t>(kWebSearch));
  EXPECT_TRUE(info->stream);

  std::string off = R"({"model":"m","thinking":{"type":"disabled"},"max_tokens":"x","tools":{}})";
  info = ScanRequestBody(&off);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->thinking);
  EXPECT_EQ(info->max_tokens, 0);
  EXPECT_EQ(info->tool_count, 0u);

  std::string enabled = R"({"thinking":{"budget_tokens":10,"type":"enabled"},"model":"m"})";
  info = ScanRequestBody(&enabled);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->thinking);
  EXPECT_EQ(info->model, "m");
}

TEST(RequestScanTest, ServerToolBits) {
  EXPECT_EQ(ServerToolBit("web_search_20250305"), static_cast<uint32_t>(kWebSearch));
  EXPECT_EQ(ServerToolBit("web_fetch_20250910"), static_cast<uint32_t>(kWebFetch));
  EXPECT_EQ(ServerToolBit("code_execution_20250825"), static_cast<uint32_t>(kCodeExecution));
  EXPECT_EQ(ServerToolBit("bash_20250124"), static_cast<uint32_t>(kBash));
  EXPECT_EQ(ServerToolBit("custom"), 0u);
  EXPECT_EQ(ServerToolBit(""), 0u);
  EXPECT_EQ(ServerToolBit("hologram_20990101"), static_cast<uint32_t>(kOtherServerTool));
}

TEST(RequestScanTest, BodyHasImage) {
  EXPECT_TRUE(BodyHasImage(
      R"({"messages":[{"role":"user","content":[{"type":"image","source":{}}]}]})"));
  EXPECT_TRUE(BodyHasImage(R"({"content":[{"type" :  "image"}]})"));
  // Text that talks about an image block: its quotes are escaped, so it does not count.
  EXPECT_FALSE(BodyHasImage(R"({"content":[{"type":"text","text":"{\"type\":\"image\"}"}]})"));
  EXPECT_FALSE(BodyHasImage(R"({"content":[{"type":"document"},{"name":"image"}]})"));
  EXPECT_FALSE(BodyHasImage(R"("image")"));
}

}  // namespace
}  // namespace ccrelay::http
