#include "dataplane/providers/bedrock/bedrock_body.h"

#include <array>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include <nlohmann/json.hpp>

namespace ccrelay::providers::bedrock {
namespace {

using Json = nlohmann::json;                 // comparisons (member order does not matter)
using OrderedJson = nlohmann::ordered_json;  // generated bodies (wire order)

constexpr std::string_view kVersionMember = R"("anthropic_version":"bedrock-2023-05-31")";

std::string Invoke(std::string_view body, const InvokeBodyOptions& options = {}) {
  std::string out = "stale bytes from a previous request";
  absl::Status status = WriteInvokeBody(body, options, &out);
  EXPECT_TRUE(status.ok()) << status << "\n" << body;
  return out;
}

Json Parse(std::string_view text) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(json.is_discarded()) << "not JSON: " << text;
  return json;
}

// --- An independent reference of the rewrite, on a DOM ---------------------------------------

// The Bedrock beta table for the names the tests use (kept or renamed; the rest is dropped).
std::string RefBetaName(const std::string& beta) {
  std::string lower;
  for (char c : beta) {
    lower.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
  }
  if (lower == "context-1m-2025-08-07" || lower == "effort-2025-11-24" ||
      lower == "context-management-2025-06-27" || lower == "tool-search-tool-2025-10-19") {
    return lower;
  }
  if (lower == "advanced-tool-use-2025-11-20") {
    return "tool-search-tool-2025-10-19";
  }
  return "";
}

void RefCacheControl(Json* holder, bool allow_ttl) {
  if (!holder->is_object() || !holder->contains("cache_control")) {
    return;
  }
  Json& cache_control = (*holder)["cache_control"];
  if (!cache_control.is_object()) {
    return;
  }
  cache_control.erase("scope");
  if (cache_control.contains("ttl")) {
    const Json& ttl = cache_control["ttl"];
    const bool accepted = ttl.is_string() && (ttl == "5m" || ttl == "1h");
    if (!allow_ttl || !accepted) {
      cache_control.erase("ttl");
    }
  }
}

Json Reference(const Json& body, const std::vector<std::string>& betas, bool allow_ttl,
               bool count_tokens) {
  static const std::set<std::string> allowed = {
      "anthropic_version", "max_tokens",  "messages", "anthropic_beta", "system",
      "stop_sequences",    "temperature", "top_p",    "top_k",          "tools",
      "tool_choice",       "thinking",    "metadata", "output_config",  "context_management"};
  Json out = Json::object();
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (allowed.count(it.key()) != 0) {
      out[it.key()] = it.value();
    }
  }
  if (out.contains("system") && out["system"].is_array()) {
    for (Json& block : out["system"]) {
      RefCacheControl(&block, allow_ttl);
    }
  }
  if (out.contains("messages") && out["messages"].is_array()) {
    for (Json& message : out["messages"]) {
      if (!message.is_object() || !message.contains("content") || !message["content"].is_array()) {
        continue;
      }
      for (Json& block : message["content"]) {
        RefCacheControl(&block, allow_ttl);
        if (block.is_object() && block.contains("content") && block["content"].is_array()) {
          for (Json& nested : block["content"]) {
            RefCacheControl(&nested, allow_ttl);
          }
        }
      }
    }
  }
  if (out.contains("tools") && out["tools"].is_array()) {
    for (Json& tool : out["tools"]) {
      if (tool.is_object()) {
        tool.erase("custom");
        RefCacheControl(&tool, allow_ttl);
      }
    }
  }
  if (out.contains("context_management")) {
    Json& cm = out["context_management"];
    Json kept = Json::array();
    if (cm.is_object() && cm.contains("edits") && cm["edits"].is_array()) {
      for (const Json& edit : cm["edits"]) {
        if (edit.is_object() && edit.contains("type") && edit["type"].is_string() &&
            (edit["type"] == "clear_tool_uses_20250919" || edit["type"] == "compact_20260112")) {
          kept.push_back(edit);
        }
      }
    }
    if (kept.empty()) {
      out.erase("context_management");
    } else {
      cm["edits"] = kept;
    }
  }
  bool body_betas = false;
  if (out.contains("anthropic_beta")) {
    if (out["anthropic_beta"].is_array()) {
      body_betas = true;
      Json kept = Json::array();
      for (const Json& beta : out["anthropic_beta"]) {
        if (!beta.is_string()) {
          continue;
        }
        const std::string name = RefBetaName(beta.get<std::string>());
        if (!name.empty() && std::find(kept.begin(), kept.end(), Json(name)) == kept.end()) {
          kept.push_back(name);
        }
      }
      if (kept.empty()) {
        out.erase("anthropic_beta");
      } else {
        out["anthropic_beta"] = kept;
      }
    } else {
      out.erase("anthropic_beta");
    }
  }
  if (!out.contains("anthropic_version")) {
    out["anthropic_version"] = "bedrock-2023-05-31";
  }
  if (!body_betas && !betas.empty()) {
    out["anthropic_beta"] = betas;
  }
  if (count_tokens && !out.contains("max_tokens")) {
    out["max_tokens"] = 1;
  }
  return out;
}

// Runs both rewrites on `body` and checks them against the reference.
void ExpectMatchesReference(const std::string& body, const std::vector<std::string>& betas,
                            bool allow_ttl) {
  const std::vector<std::string_view> views(betas.begin(), betas.end());
  InvokeBodyOptions options;
  options.betas = views;
  options.allow_cache_ttl = allow_ttl;
  const Json input = Parse(body);
  std::string out;
  ASSERT_TRUE(WriteInvokeBody(body, options, &out).ok()) << body;
  const Json output = Parse(out);
  EXPECT_EQ(output, Reference(input, betas, allow_ttl, /*count_tokens=*/false))
      << "input:  " << body << "\noutput: " << out;

  std::string count;
  ASSERT_TRUE(WriteCountTokensBody(body, options, &count).ok()) << body;
  const Json wrapper = Parse(count);
  ASSERT_TRUE(wrapper.is_object());
  std::string decoded;
  ASSERT_TRUE(
      absl::Base64Unescape(wrapper["input"]["invokeModel"]["body"].get<std::string>(), &decoded));
  EXPECT_EQ(Parse(decoded), Reference(input, betas, allow_ttl, /*count_tokens=*/true)) << body;
}

// --- Top level -----------------------------------------------------------------------------------

TEST(BedrockBodyTest, RemovesModelAndStreamAndAddsVersion) {
  EXPECT_EQ(Invoke(R"({"model":"m","max_tokens":5,"messages":[],"stream":true})"),
            R"({"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31"})");
}

TEST(BedrockBodyTest, KeepsTheBodysAnthropicVersion) {
  EXPECT_EQ(Invoke(R"({"anthropic_version":"x","model":"m","max_tokens":5})"),
            R"({"anthropic_version":"x","max_tokens":5})");
}

TEST(BedrockBodyTest, DroppedMemberFirst) {
  EXPECT_EQ(Invoke(R"({"model":"m","max_tokens":5,"messages":[]})"),
            R"({"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31"})");
}

TEST(BedrockBodyTest, DroppedMemberLast) {
  EXPECT_EQ(Invoke(R"({"max_tokens":5,"messages":[],"stream":false})"),
            R"({"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31"})");
}

TEST(BedrockBodyTest, DroppedMemberInTheMiddle) {
  EXPECT_EQ(Invoke(R"({"max_tokens":5,"model":"m","messages":[]})"),
            R"({"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31"})");
}

TEST(BedrockBodyTest, OnlyMemberDropped) {
  EXPECT_EQ(Invoke(R"({"model":"m"})"), R"({"anthropic_version":"bedrock-2023-05-31"})");
}

TEST(BedrockBodyTest, EveryMemberDroppedButTheAddedOnes) {
  const auto betas = std::to_array<std::string_view>({"context-1m-2025-08-07"});
  InvokeBodyOptions options;
  options.betas = betas;
  EXPECT_EQ(
      Invoke(R"({"model":"m","stream":true,"service_tier":"auto"})", options),
      R"({"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["context-1m-2025-08-07"]})");
}

TEST(BedrockBodyTest, EmptyObject) {
  EXPECT_EQ(Invoke("{}"), R"({"anthropic_version":"bedrock-2023-05-31"})");
  EXPECT_EQ(Invoke(" { } "), R"( { "anthropic_version":"bedrock-2023-05-31"} )");
}

TEST(BedrockBodyTest, WhitespaceIsKeptAndStaysValid) {
  const std::string body =
      "{\n  \"model\" : \"m\" ,\n  \"max_tokens\" : 5 ,\n  \"stream\" : true\n}\n";
  const std::string out = Invoke(body);
  EXPECT_EQ(out, "{\n   \n  \"max_tokens\" : 5 \n," + std::string(kVersionMember) + "}\n");
  EXPECT_EQ(Parse(out), Parse(R"({"max_tokens":5,"anthropic_version":"bedrock-2023-05-31"})"));
}

TEST(BedrockBodyTest, KeepsOnlyTheTopLevelAllowlist) {
  const std::string body =
      R"({"model":"m","anthropic_version":"v","max_tokens":1,"messages":[],)"
      R"("system":"s","stop_sequences":["x"],"temperature":0.5,"top_p":0.9,)"
      R"("top_k":5,"tools":[],"tool_choice":{"type":"auto"},)"
      R"("thinking":{"type":"adaptive"},"metadata":{"user_id":"u"},)"
      R"("output_config":{"effort":"high"},"service_tier":"auto",)"
      R"("container":"c","inference_geo":"us","output_format":{},)"
      R"("cache_control":{"type":"ephemeral"},"mcp_servers":[],"speed":"fast",)"
      R"("stream":true})";
  EXPECT_EQ(Parse(Invoke(body)),
            Parse(R"({"anthropic_version":"v","max_tokens":1,"messages":[],"system":"s",)"
                  R"("stop_sequences":["x"],"temperature":0.5,"top_p":0.9,"top_k":5,"tools":[],)"
                  R"("tool_choice":{"type":"auto"},"thinking":{"type":"adaptive"},)"
                  R"("metadata":{"user_id":"u"},"output_config":{"effort":"high"}})"));
}

TEST(BedrockBodyTest, KeysAreComparedUnescaped) {
  EXPECT_EQ(Invoke(R"({"mod\u0065l":"m","\u0073tream":true,"max_\u0074okens":3})"),
            R"({"max_\u0074okens":3,"anthropic_version":"bedrock-2023-05-31"})");
  // An escaped "anthropic_version" counts as present.
  EXPECT_EQ(Invoke(R"({"anthropic\u005fversion":"v"})"), R"({"anthropic\u005fversion":"v"})");
}

TEST(BedrockBodyTest, DuplicateKeysAreEachHandled) {
  EXPECT_EQ(Invoke(R"({"model":"a","max_tokens":1,"model":"b","stream":true,"stream":false})"),
            R"({"max_tokens":1,"anthropic_version":"bedrock-2023-05-31"})");
}

TEST(BedrockBodyTest, StringsAreCopiedByteForByte) {
  // Quotes, braces, brackets, commas and escapes inside strings, raw UTF-8 and \u escapes.
  const std::string text =
      R"("say \"}\" then {\"model\":1}, ] [ \\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 caf\u00e9 )"
      "caf\xC3\xA9 \xE2\x86\x92 \xF0\x9F\x98\x80\"";
  const std::string body = R"({"model":"m\"}","messages":[{"role":"user","content":[)"
                           R"({"type":"text","text":)" +
                           text + R"(}]}],"max_tokens":1})";
  const std::string out = Invoke(body);
  EXPECT_NE(out.find(text), std::string::npos) << out;
  EXPECT_EQ(out.find("m\\\"}"), std::string::npos);
  EXPECT_EQ(Parse(out)["messages"], Parse(body)["messages"]);
}

TEST(BedrockBodyTest, StringScanAtEveryOffset) {
  // The string scan works 16 and 8 bytes at a time: put each special byte at every offset.
  for (size_t length = 0; length < 40; ++length) {
    for (size_t at = 0; at <= length; ++at) {
      std::string text(length, 'a');
      text.insert(at, "\\\"");
      const std::string body = R"({"system":")" + text + R"(","model":"m"})";
      EXPECT_EQ(Invoke(body), R"({"system":")" + text + "\"," + std::string(kVersionMember) + "}")
          << body;
      std::string control(length, 'b');
      control.insert(at, 1, '\x1f');
      std::string out;
      EXPECT_FALSE(WriteInvokeBody(R"({"system":")" + control + "\"}", {}, &out).ok()) << at;
      std::string unterminated(length, 'c');
      EXPECT_FALSE(WriteInvokeBody(R"({"system":")" + unterminated, {}, &out).ok()) << length;
      // Bytes >= 0x80 are not special.
      std::string high(length, '\xC3');
      EXPECT_TRUE(WriteInvokeBody(R"({"system":")" + high + "\"}", {}, &out).ok()) << length;
    }
  }
}

// --- cache_control -----------------------------------------------------------------------------

TEST(BedrockBodyTest, CacheControlScopeRemovedInEveryPosition) {
  EXPECT_EQ(Invoke(R"({"system":[{"type":"text","text":"a",)"
                   R"("cache_control":{"scope":"global","type":"ephemeral"}}]})"),
            R"({"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}],)" +
                std::string(kVersionMember) + "}");
  EXPECT_EQ(
      Invoke(R"({"system":[{"cache_control":{"type":"ephemeral","scope":"global"}}]})"),
      R"({"system":[{"cache_control":{"type":"ephemeral"}}],)" + std::string(kVersionMember) + "}");
  EXPECT_EQ(Invoke(R"({"system":[{"cache_control":{"scope":"global"}}]})"),
            R"({"system":[{"cache_control":{}}],)" + std::string(kVersionMember) + "}");
  EXPECT_EQ(Invoke(R"({"system":[{"cache_control":{"type":"ephemeral","scope":"global","x":1}}]})"),
            R"({"system":[{"cache_control":{"type":"ephemeral","x":1}}],)" +
                std::string(kVersionMember) + "}");
}

TEST(BedrockBodyTest, CacheControlInMessagesToolResultsAndTools) {
  const std::string body =
      R"({"messages":[{"role":"user","content":[)"
      R"({"type":"text","text":"t","cache_control":{"type":"ephemeral","scope":"global"}},)"
      R"({"type":"tool_result","tool_use_id":"x","content":[)"
      R"({"type":"text","text":"r","cache_control":{"scope":"global","type":"ephemeral"}}],)"
      R"("cache_control":{"type":"ephemeral","scope":"global"}}]}],)"
      R"("tools":[{"name":"Bash","cache_control":{"type":"ephemeral","scope":"global"}}]})";
  const std::string out = Invoke(body);
  EXPECT_EQ(out.find("scope"), std::string::npos) << out;
  EXPECT_EQ(out, R"({"messages":[{"role":"user","content":[)"
                 R"({"type":"text","text":"t","cache_control":{"type":"ephemeral"}},)"
                 R"({"type":"tool_result","tool_use_id":"x","content":[)"
                 R"({"type":"text","text":"r","cache_control":{"type":"ephemeral"}}],)"
                 R"("cache_control":{"type":"ephemeral"}}]}],)"
                 R"("tools":[{"name":"Bash","cache_control":{"type":"ephemeral"}}],)" +
                     std::string(kVersionMember) + "}");
}

TEST(BedrockBodyTest, CacheControlElsewhereIsUntouched) {
  // A tool_use input, a tool's input_schema, metadata and a string system prompt are opaque.
  const std::string body =
      R"({"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n",)"
      R"("input":{"cache_control":{"scope":"global"}}}]}],)"
      R"("tools":[{"name":"n","input_schema":{"properties":{"cache_control":{"scope":"s"}}}}],)"
      R"("metadata":{"cache_control":{"scope":"global"}},"system":"cache_control scope"})";
  EXPECT_EQ(Invoke(body),
            body.substr(0, body.size() - 1) + "," + std::string(kVersionMember) + "}");
}

TEST(BedrockBodyTest, CacheControlTtl) {
  const auto with_ttl = [](std::string_view ttl) {
    return R"({"system":[{"cache_control":{"type":"ephemeral","ttl":)" + std::string(ttl) + "}}]}";
  };
  const std::string kept_5m = with_ttl(R"("5m")");
  EXPECT_EQ(Invoke(kept_5m),
            kept_5m.substr(0, kept_5m.size() - 1) + "," + std::string(kVersionMember) + "}");
  EXPECT_NE(Invoke(with_ttl(R"("1h")")).find(R"("ttl":"1h")"), std::string::npos);
  EXPECT_NE(Invoke(with_ttl(R"("\u0031h")")).find(R"("ttl":"\u0031h")"), std::string::npos);
  const std::string dropped =
      R"({"system":[{"cache_control":{"type":"ephemeral"}}],)" + std::string(kVersionMember) + "}";
  EXPECT_EQ(Invoke(with_ttl(R"("10m")")), dropped);
  EXPECT_EQ(Invoke(with_ttl("300")), dropped);
  EXPECT_EQ(Invoke(with_ttl("null")), dropped);
  EXPECT_EQ(Invoke(with_ttl(R"({"a":"5m"})")), dropped);

  InvokeBodyOptions no_ttl;
  no_ttl.allow_cache_ttl = false;
  EXPECT_EQ(Invoke(with_ttl(R"("5m")"), no_ttl), dropped);
  EXPECT_EQ(Invoke(with_ttl(R"("1h")"), no_ttl), dropped);
  EXPECT_EQ(
      Invoke(R"({"tools":[{"cache_control":{"ttl":"1h","type":"ephemeral"}}]})", no_ttl),
      R"({"tools":[{"cache_control":{"type":"ephemeral"}}],)" + std::string(kVersionMember) + "}");
}

// --- tools ---------------------------------------------------------------------------------------

TEST(BedrockBodyTest, ToolCustomFieldRemovedInEveryPosition) {
  const std::string version = "," + std::string(kVersionMember) + "}";
  EXPECT_EQ(Invoke(R"({"tools":[{"custom":{"defer_loading":true},"name":"a"}]})"),
            R"({"tools":[{"name":"a"}])" + version);
  EXPECT_EQ(Invoke(R"({"tools":[{"name":"a","custom":{"defer_loading":true}}]})"),
            R"({"tools":[{"name":"a"}])" + version);
  EXPECT_EQ(Invoke(R"({"tools":[{"custom":{}}]})"), R"({"tools":[{}])" + version);
  EXPECT_EQ(Invoke(R"({"tools":[{"name":"a","custom":1,"description":"d"},{"custom":[]}]})"),
            R"({"tools":[{"name":"a","description":"d"},{}])" + version);
}

TEST(BedrockBodyTest, ToolLevelDeferLoadingIsKept) {
  EXPECT_EQ(Invoke(R"({"tools":[{"name":"a","defer_loading":true}]})"),
            R"({"tools":[{"name":"a","defer_loading":true}],)" + std::string(kVersionMember) + "}");
}

// --- context_management ------------------------------------------------------------------------

TEST(BedrockBodyTest, ContextManagementClearThinkingOnlyIsRemoved) {
  EXPECT_EQ(Invoke(R"({"max_tokens":1,"context_management":{"edits":[)"
                   R"({"type":"clear_thinking_20251015","keep":"all"}]}})"),
            R"({"max_tokens":1,)" + std::string(kVersionMember) + "}");
}

TEST(BedrockBodyTest, ContextManagementKeepsAcceptedEdits) {
  EXPECT_EQ(
      Invoke(R"({"context_management":{"edits":[)"
             R"({"type":"clear_thinking_20251015","keep":"all"},)"
             R"({"type":"clear_tool_uses_20250919","trigger":{"type":"input_tokens","value":1}},)"
             R"({"keep":1,"type":"clear_thinking_20251015"},)"
             R"({"type":"compact_20260112"}],"other":1}})"),
      R"({"context_management":{"edits":[)"
      R"({"type":"clear_tool_uses_20250919","trigger":{"type":"input_tokens","value":1}},)"
      R"({"type":"compact_20260112"}],"other":1},)" +
          std::string(kVersionMember) + "}");
  EXPECT_EQ(Invoke(R"({"context_management":{"edits":[{"type":"compact_20260112"},)"
                   R"({"type":"clear_thinking_20251015"}]}})"),
            R"({"context_management":{"edits":[{"type":"compact_20260112"}]},)" +
                std::string(kVersionMember) + "}");
  // The type is compared unescaped.
  EXPECT_EQ(Invoke(R"({"context_management":{"edits":[{"type":"compact\u005f20260112"}]}})"),
            R"({"context_management":{"edits":[{"type":"compact\u005f20260112"}]},)" +
                std::string(kVersionMember) + "}");
}

TEST(BedrockBodyTest, ContextManagementWithoutUsableEditsIsRemoved) {
  const std::string expected = R"({"max_tokens":1,)" + std::string(kVersionMember) + "}";
  for (const std::string_view cm :
       {R"({})", R"({"edits":[]})", R"({"edits":{}})", R"({"edits":[1,"x",null,[]]})",
        R"({"edits":[{"type":"unknown_20990101"}]})", R"({"edits":[{"type":5}]})",
        R"({"edits":[{"kind":"compact_20260112"}]})", R"("x")", R"([])", R"(null)"}) {
    EXPECT_EQ(Invoke(R"({"max_tokens":1,"context_management":)" + std::string(cm) + "}"), expected)
        << cm;
    EXPECT_EQ(Invoke(R"({"context_management":)" + std::string(cm) + R"(,"max_tokens":1})"),
              expected)
        << cm;
  }
}

// --- anthropic_beta ----------------------------------------------------------------------------

TEST(BedrockBodyTest, AddsHeaderBetasWhenTheBodyHasNone) {
  const auto betas =
      std::to_array<std::string_view>({"context-1m-2025-08-07", "effort-2025-11-24"});
  InvokeBodyOptions options;
  options.betas = betas;
  EXPECT_EQ(Invoke(R"({"max_tokens":1})", options),
            R"({"max_tokens":1,)" + std::string(kVersionMember) +
                R"(,"anthropic_beta":["context-1m-2025-08-07","effort-2025-11-24"]})");
}

TEST(BedrockBodyTest, NoBetasNoAnthropicBeta) {
  EXPECT_EQ(Invoke(R"({"max_tokens":1})").find("anthropic_beta"), std::string::npos);
}

TEST(BedrockBodyTest, BodyBetasAreFilteredAndWinOverHeaderBetas) {
  const auto betas = std::to_array<std::string_view>({"effort-2025-11-24"});
  InvokeBodyOptions options;
  options.betas = betas;
  EXPECT_EQ(Invoke(R"({"anthropic_beta":["claude-code-20250219","advanced-tool-use-2025-11-20",)"
                   R"("context-1m-2025-08-07",7,"tool-search-tool-2025-10-19",)"
                   R"("CONTEXT-1M-2025-08-07","context\u002d1m-2025-08-07"],"max_tokens":1})",
                   options),
            R"({"anthropic_beta":["tool-search-tool-2025-10-19","context-1m-2025-08-07"],)"
            R"("max_tokens":1,)" +
                std::string(kVersionMember) + "}");
}

TEST(BedrockBodyTest, BodyBetasAllUnsupportedRemovesTheMember) {
  const auto betas = std::to_array<std::string_view>({"effort-2025-11-24"});
  InvokeBodyOptions options;
  options.betas = betas;
  EXPECT_EQ(Invoke(R"({"anthropic_beta":["oauth-2025-04-20"],"max_tokens":1})", options),
            R"({"max_tokens":1,)" + std::string(kVersionMember) + "}");
  EXPECT_EQ(Invoke(R"({"max_tokens":1,"anthropic_beta":[]})", options),
            R"({"max_tokens":1,)" + std::string(kVersionMember) + "}");
}

TEST(BedrockBodyTest, NonArrayBodyBetasCountAsAbsent) {
  const auto betas = std::to_array<std::string_view>({"effort-2025-11-24"});
  InvokeBodyOptions options;
  options.betas = betas;
  EXPECT_EQ(Invoke(R"({"anthropic_beta":"effort-2025-11-24","max_tokens":1})", options),
            R"({"max_tokens":1,)" + std::string(kVersionMember) +
                R"(,"anthropic_beta":["effort-2025-11-24"]})");
}

TEST(BedrockBodyTest, OptionBetasAreEscaped) {
  const auto betas = std::to_array<std::string_view>({"a\"b\\c\x01"});
  InvokeBodyOptions options;
  options.betas = betas;
  const std::string out = Invoke("{}", options);
  EXPECT_EQ(Parse(out)["anthropic_beta"], Json::array({"a\"b\\c\x01"})) << out;
}

// --- count_tokens ------------------------------------------------------------------------------

std::string DecodeCountTokens(const std::string& wrapper) {
  constexpr std::string_view kPrefix = R"({"input":{"invokeModel":{"body":")";
  constexpr std::string_view kSuffix = R"("}}})";
  EXPECT_EQ(wrapper.substr(0, kPrefix.size()), kPrefix);
  EXPECT_GE(wrapper.size(), kPrefix.size() + kSuffix.size());
  EXPECT_EQ(wrapper.substr(wrapper.size() - kSuffix.size()), kSuffix);
  const std::string base64 =
      wrapper.substr(kPrefix.size(), wrapper.size() - kPrefix.size() - kSuffix.size());
  std::string decoded;
  EXPECT_TRUE(absl::Base64Unescape(base64, &decoded));
  EXPECT_EQ(absl::Base64Escape(decoded), base64);  // standard alphabet, padded
  return decoded;
}

TEST(BedrockBodyTest, CountTokensWrapsTheInvokeBodyWithMaxTokens) {
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
  std::string out;
  ASSERT_TRUE(WriteCountTokensBody(body, {}, &out).ok());
  EXPECT_EQ(DecodeCountTokens(out), R"({"messages":[{"role":"user","content":"hi"}],)" +
                                        std::string(kVersionMember) + R"(,"max_tokens":1})");
  EXPECT_EQ(Parse(out)["input"]["invokeModel"].size(), 1u);
}

TEST(BedrockBodyTest, CountTokensKeepsAnExistingMaxTokens) {
  std::string out;
  ASSERT_TRUE(WriteCountTokensBody(R"({"model":"m","max_tokens":9})", {}, &out).ok());
  EXPECT_EQ(DecodeCountTokens(out), R"({"max_tokens":9,)" + std::string(kVersionMember) + "}");
}

TEST(BedrockBodyTest, CountTokensEveryPaddingLength) {
  // Invoke bodies of every length modulo 3 (and a long one) round-trip through the base64.
  const auto betas = std::to_array<std::string_view>({"context-1m-2025-08-07"});
  InvokeBodyOptions options;
  options.betas = betas;
  std::string out;
  for (size_t n = 0; n < 12; ++n) {
    const std::string body = R"({"model":"m","system":")" + std::string(n, 'x') + R"("})";
    ASSERT_TRUE(WriteCountTokensBody(body, options, &out).ok());
    std::string invoke;
    ASSERT_TRUE(WriteInvokeBody(body, options, &invoke).ok());
    EXPECT_EQ(DecodeCountTokens(out), invoke.substr(0, invoke.size() - 1) + R"(,"max_tokens":1})");
  }
  const std::string big = R"({"system":")" + std::string(100000, 'y') + R"(","max_tokens":1})";
  ASSERT_TRUE(WriteCountTokensBody(big, options, &out).ok());
  std::string invoke;
  ASSERT_TRUE(WriteInvokeBody(big, options, &invoke).ok());
  EXPECT_EQ(DecodeCountTokens(out), invoke);
}

TEST(BedrockBodyTest, CountTokensErrorLeavesOutputEmpty) {
  std::string out = "old";
  EXPECT_EQ(WriteCountTokensBody(R"({"model":)", {}, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(out.empty());
}

// --- Malformed input ---------------------------------------------------------------------------

TEST(BedrockBodyTest, RejectsMalformedJson) {
  for (const std::string_view body : {"",
                                      R"( )",
                                      R"([])",
                                      R"("x")",
                                      R"(1)",
                                      R"({)",
                                      R"({"a")",
                                      R"({"a":)",
                                      R"({"a":1)",
                                      R"({"a":1,})",
                                      R"({,})",
                                      R"({"a" 1})",
                                      R"({"a":1}x)",
                                      R"({"a":1}{})",
                                      R"({"a":[1})",
                                      R"({"a":{"b":1]})",
                                      R"({"a":01})",
                                      R"({"a":1.})",
                                      R"({"a":-})",
                                      R"({"a":1e})",
                                      R"({"a":.5})",
                                      R"({"a":+1})",
                                      R"({"a":tru})",
                                      R"({"a":nul})",
                                      R"({"a":True})",
                                      R"({"a":"x\q"})",
                                      R"({"a":"\u12g4"})",
                                      R"({"a":"\u12"})",
                                      "{\"a\":\"tab\there\"}",
                                      R"({"a":"unterminated})",
                                      R"({"model":"m","messages":[{"content":[{]}]})",
                                      R"({"tools":[{"custom":}]})",
                                      R"({"context_management":{"edits":[{"type":}]}})",
                                      R"({"anthropic_beta":["a",]})",
                                      R"({"system":[{"cache_control":{"ttl":"5m}}]})",
                                      R"({"a":[1,]})",
                                      R"({"a":[,1]})",
                                      R"({1:2})",
                                      R"({'a':1})"}) {
    std::string out = "old";
    const absl::Status status = WriteInvokeBody(body, {}, &out);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_TRUE(out.empty()) << body;
    EXPECT_EQ(status.message().substr(0, 31), "request body is not valid JSON:") << status;
  }
}

TEST(BedrockBodyTest, NestingLimit) {
  const auto nested = [](size_t depth) {
    return R"({"metadata":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  };
  std::string out;
  EXPECT_TRUE(WriteInvokeBody(nested(1000), {}, &out).ok());
  EXPECT_EQ(WriteInvokeBody(nested(5000), {}, &out).code(), absl::StatusCode::kInvalidArgument);
}

TEST(BedrockBodyTest, ScalarsAndNestedValuesAreValidated) {
  std::string out;
  EXPECT_TRUE(WriteInvokeBody(R"({"temperature":-0.5e+3,"top_k":0,"top_p":1E-2,"metadata":)"
                              R"({"a":[true,false,null,{},[],"",{"b":[{}]}]}})",
                              {}, &out)
                  .ok());
}

// --- Output buffer reuse -------------------------------------------------------------------------

TEST(BedrockBodyTest, ReusedOutputKeepsItsCapacity) {
  std::string out;
  const std::string big = R"({"model":"m","system":")" + std::string(50000, 'a') + R"("})";
  ASSERT_TRUE(WriteInvokeBody(big, {}, &out).ok());
  const size_t capacity = out.capacity();
  const char* const data = out.data();
  ASSERT_TRUE(WriteInvokeBody(R"({"model":"m","max_tokens":2})", {}, &out).ok());
  EXPECT_EQ(out, R"({"max_tokens":2,)" + std::string(kVersionMember) + "}");
  EXPECT_EQ(out.capacity(), capacity);
  EXPECT_EQ(out.data(), data);
}

// --- Realistic Claude Code bodies ----------------------------------------------------------------

// A Claude Code 2.1 body in the shape of bench/body_gen.cc (docs/claude-code-wire.md), with the
// fields Bedrock rejects: cache_control.scope, tool "custom", clear_thinking edits, model, stream.
std::string ClaudeCodeBody(size_t min_size, std::mt19937_64* rng) {
  static constexpr auto kWords = std::to_array<std::string_view>(
      {"the", "request", "handler", "returns", "status", "config", "stream", "buffer",
       "caf\xC3\xA9", "na\xC3\xAFve", "\xE2\x86\x92", "\"quoted\"", "{brace}", "back\\slash",
       "tab\there", "line\nbreak", "}]", "value,"});
  const auto prose = [&](size_t words) {
    std::string out;
    for (size_t i = 0; i < words; ++i) {
      out += i > 0 ? " " : "";
      out += kWords[(*rng)() % std::size(kWords)];
    }
    return out;
  };
  OrderedJson body;
  body["model"] = "claude-opus-4-8";
  body["messages"] = OrderedJson::array();
  body["system"] = OrderedJson::array(
      {{{"type", "text"}, {"text", "x-anthropic-billing-header: cc_version=2.1.197.a1b;"}},
       {{"type", "text"},
        {"text", "You are Claude Code, Anthropic's official CLI for Claude."},
        {"cache_control", {{"type", "ephemeral"}, {"scope", "global"}, {"ttl", "1h"}}}},
       {{"type", "text"}, {"text", prose(900)}, {"cache_control", {{"type", "ephemeral"}}}}});
  OrderedJson tools = OrderedJson::array();
  for (const char* name : {"Bash", "Read", "Edit", "Grep", "Glob", "Write", "TodoWrite", "Task"}) {
    OrderedJson tool = {
        {"name", name},
        {"description", prose(150)},
        {"input_schema",
         {{"type", "object"},
          {"properties", {{"command", {{"type", "string"}, {"description", prose(10)}}}}},
          {"required", {"command"}},
          {"additionalProperties", false},
          {"$schema", "http://json-schema.org/draft-07/schema#"}}}};
    if ((*rng)() % 2 == 0) {
      tool["custom"] = {{"defer_loading", true}};
    }
    tools.push_back(tool);
  }
  tools.back()["cache_control"] = {{"type", "ephemeral"}, {"scope", "global"}};
  body["tools"] = tools;
  body["metadata"] = {
      {"user_id", R"({"device_id":"5f0c","account_uuid":"","session_id":"7c9e6679"})"}};
  body["max_tokens"] = 64000;
  body["thinking"] = {{"type", "adaptive"}};
  body["context_management"] = {
      {"edits", OrderedJson::array({{{"type", "clear_thinking_20251015"}, {"keep", "all"}}})}};
  body["output_config"] = {{"effort", "high"}};
  body["stream"] = true;

  OrderedJson& messages = body["messages"];
  messages.push_back({{"role", "user"},
                      {"content", OrderedJson::array({{{"type", "text"}, {"text", prose(20)}}})}});
  for (int turn = 0; body.dump().size() < min_size; ++turn) {
    const std::string id = "toolu_01" + std::to_string(100000 + turn);
    messages.push_back(
        {{"role", "assistant"},
         {"content", OrderedJson::array({{{"type", "text"}, {"text", prose(25)}},
                                         {{"type", "tool_use"},
                                          {"id", id},
                                          {"name", "Bash"},
                                          {"input", {{"command", "ctest -R pool"}}}}})}});
    OrderedJson result = {{"type", "tool_result"}, {"tool_use_id", id}, {"is_error", false}};
    if (turn % 3 == 0) {
      result["content"] =
          OrderedJson::array({{{"type", "text"},
                               {"text", prose(200)},
                               {"cache_control", {{"type", "ephemeral"}, {"scope", "global"}}}}});
    } else {
      result["content"] = prose(300);
    }
    messages.push_back({{"role", "user"}, {"content", OrderedJson::array({result})}});
  }
  messages.back()["content"].back()["cache_control"] = {
      {"type", "ephemeral"}, {"ttl", "5m"}, {"scope", "global"}};
  return body.dump();
}

TEST(BedrockBodyTest, ClaudeCodeBody75KB) {
  std::mt19937_64 rng(42);
  const std::string body = ClaudeCodeBody(size_t{75} * 1024, &rng);
  ASSERT_GE(body.size(), size_t{75} * 1024);
  const std::vector<std::string> betas = {"context-1m-2025-08-07", "context-management-2025-06-27",
                                          "effort-2025-11-24"};
  ExpectMatchesReference(body, betas, /*allow_ttl=*/true);
  ExpectMatchesReference(body, betas, /*allow_ttl=*/false);

  std::string out;
  ASSERT_TRUE(WriteInvokeBody(body, {}, &out).ok());
  EXPECT_EQ(out.find(R"("scope")"), std::string::npos);
  EXPECT_EQ(out.find(R"("custom")"), std::string::npos);
  EXPECT_EQ(out.find("clear_thinking_20251015"), std::string::npos);
  EXPECT_EQ(out.find(R"("stream")"), std::string::npos);
  EXPECT_LT(out.size(), body.size());
}

TEST(BedrockBodyTest, ClaudeCodeBodyPrettyPrintedAndAsciiEscaped) {
  std::mt19937_64 rng(7);
  const OrderedJson body = OrderedJson::parse(ClaudeCodeBody(size_t{20} * 1024, &rng));
  ExpectMatchesReference(body.dump(2), {"effort-2025-11-24"}, true);
  ExpectMatchesReference(body.dump(-1, ' ', /*ensure_ascii=*/true), {}, true);
  ExpectMatchesReference(body.dump(1, '\t', /*ensure_ascii=*/true), {}, false);
}

// --- Randomized comparison with the reference ---------------------------------------------------

class RandomBody {
 public:
  explicit RandomBody(uint64_t seed) : rng_(seed) {}

  OrderedJson Body() {
    static constexpr auto kKeys = std::to_array<const char*>(
        {"model", "stream", "max_tokens", "messages", "system", "tools", "anthropic_version",
         "anthropic_beta", "context_management", "metadata", "thinking", "temperature",
         "service_tier", "cache_control", "output_format", "output_config", "tool_choice", "top_k",
         "zzz_unknown"});
    OrderedJson body = OrderedJson::object();
    for (const char* key : kKeys) {
      if (Chance(2)) {
        continue;
      }
      body[key] = Field(key);
    }
    return Shuffled(body);
  }

  std::vector<std::string> Betas() {
    std::vector<std::string> out;
    for (const char* beta : {"context-1m-2025-08-07", "effort-2025-11-24"}) {
      if (Chance(2)) {
        out.emplace_back(beta);
      }
    }
    return out;
  }

  bool Chance(uint64_t n) { return rng_() % n == 0; }

 private:
  OrderedJson Field(std::string_view key) {
    if (Chance(8)) {
      return Value(2);  // any shape at all
    }
    if (key == "messages") {
      OrderedJson messages = OrderedJson::array();
      for (uint64_t i = rng_() % 4; i > 0; --i) {
        messages.push_back(Chance(6) ? Value(1)
                                     : OrderedJson{{"role", "user"}, {"content", Blocks(true)}});
      }
      return messages;
    }
    if (key == "system") {
      return Chance(4) ? OrderedJson(Text()) : Blocks(false);
    }
    if (key == "tools") {
      OrderedJson tools = OrderedJson::array();
      for (uint64_t i = rng_() % 4; i > 0; --i) {
        OrderedJson tool = OrderedJson::object();
        if (!Chance(3)) {
          tool["name"] = Text();
        }
        if (!Chance(2)) {
          tool["custom"] = Chance(2) ? OrderedJson{{"defer_loading", true}} : Value(1);
        }
        if (!Chance(2)) {
          tool["cache_control"] = CacheControl();
        }
        if (!Chance(3)) {
          tool["input_schema"] = {{"type", "object"}, {"properties", Value(2)}};
        }
        if (Chance(3)) {
          tool["defer_loading"] = true;
        }
        tools.push_back(Shuffled(tool));
      }
      return tools;
    }
    if (key == "context_management") {
      OrderedJson cm = OrderedJson::object();
      if (!Chance(4)) {
        OrderedJson edits = OrderedJson::array();
        for (uint64_t i = rng_() % 4; i > 0; --i) {
          static constexpr auto kTypes =
              std::to_array<const char*>({"clear_thinking_20251015", "clear_tool_uses_20250919",
                                          "compact_20260112", "other_20990101"});
          OrderedJson edit = {{"type", kTypes[rng_() % 4]}};
          if (Chance(2)) {
            edit["keep"] = Value(1);
          }
          if (Chance(8)) {
            edit["type"] = Value(0);
          }
          edits.push_back(Chance(8) ? Value(0) : Shuffled(edit));
        }
        cm["edits"] = edits;
      }
      if (Chance(3)) {
        cm["other"] = Value(1);
      }
      return Shuffled(cm);
    }
    if (key == "anthropic_beta") {
      static constexpr auto kBetas = std::to_array<const char*>(
          {"context-1m-2025-08-07", "effort-2025-11-24", "advanced-tool-use-2025-11-20",
           "tool-search-tool-2025-10-19", "claude-code-20250219", "interleaved-thinking-2025-05-14",
           "unknown-2099-01-01", "Context-1M-2025-08-07"});
      OrderedJson betas = OrderedJson::array();
      for (uint64_t i = rng_() % 4; i > 0; --i) {
        betas.push_back(Chance(8) ? Value(0) : OrderedJson(kBetas[rng_() % std::size(kBetas)]));
      }
      return betas;
    }
    if (key == "cache_control") {
      return CacheControl();
    }
    return Value(2);
  }

  OrderedJson Blocks(bool nested_content) {
    OrderedJson blocks = OrderedJson::array();
    for (uint64_t i = rng_() % 4; i > 0; --i) {
      if (Chance(8)) {
        blocks.push_back(Value(1));
        continue;
      }
      OrderedJson block = {{"type", Chance(2) ? "text" : "tool_result"}, {"text", Text()}};
      if (!Chance(3)) {
        block["cache_control"] = CacheControl();
      }
      if (nested_content && Chance(2)) {
        block["content"] = Chance(3) ? OrderedJson(Text()) : Blocks(false);
      }
      if (Chance(4)) {
        block["input"] = {{"cache_control", CacheControl()}};
      }
      blocks.push_back(Shuffled(block));
    }
    return blocks;
  }

  OrderedJson CacheControl() {
    if (Chance(8)) {
      return Value(0);
    }
    OrderedJson cache_control = OrderedJson::object();
    if (!Chance(4)) {
      cache_control["type"] = "ephemeral";
    }
    if (Chance(2)) {
      cache_control["scope"] = Chance(2) ? OrderedJson("global") : Value(1);
    }
    if (Chance(2)) {
      static constexpr auto kTtls = std::to_array<const char*>({"5m", "1h", "10m", "1H"});
      cache_control["ttl"] = Chance(5) ? Value(0) : OrderedJson(kTtls[rng_() % 4]);
    }
    if (Chance(5)) {
      cache_control["extra"] = Value(1);
    }
    return Shuffled(cache_control);
  }

  OrderedJson Shuffled(const OrderedJson& object) {
    std::vector<std::pair<std::string, OrderedJson>> members;
    for (auto it = object.begin(); it != object.end(); ++it) {
      members.emplace_back(it.key(), it.value());
    }
    std::shuffle(members.begin(), members.end(), rng_);
    OrderedJson out = OrderedJson::object();
    for (auto& [key, value] : members) {
      out[key] = value;
    }
    return out;
  }

  std::string Text() {
    static constexpr auto kPieces = std::to_array<std::string_view>({"a",
                                                                     "\"",
                                                                     "\\",
                                                                     "}",
                                                                     "{",
                                                                     "]",
                                                                     "[",
                                                                     ",",
                                                                     ":",
                                                                     "\n",
                                                                     "\t",
                                                                     std::string_view("\x01", 1),
                                                                     std::string_view("\0", 1),
                                                                     "\xC3\xA9",
                                                                     "\xE2\x86\x92",
                                                                     "\xF0\x9F\x98\x80",
                                                                     "scope",
                                                                     "model",
                                                                     "cache_control",
                                                                     "/",
                                                                     " "});
    std::string out;
    for (uint64_t i = rng_() % 12; i > 0; --i) {
      out += kPieces[rng_() % std::size(kPieces)];
    }
    return out;
  }

  OrderedJson Value(int depth) {
    switch (rng_() % (depth > 0 ? 8 : 6)) {
      case 0:
        return nullptr;
      case 1:
        return Chance(2);
      case 2:
        return static_cast<int64_t>(rng_() % 2000) - 1000;
      case 3:
        return static_cast<double>(rng_() % 100000) / 128.0 - 300.0;
      case 4:
      case 5:
        return Text();
      case 6: {
        OrderedJson array = OrderedJson::array();
        for (uint64_t i = rng_() % 4; i > 0; --i) {
          array.push_back(Value(depth - 1));
        }
        return array;
      }
      default: {
        OrderedJson object = OrderedJson::object();
        for (uint64_t i = rng_() % 4; i > 0; --i) {
          static constexpr auto kKeys = std::to_array<const char*>(
              {"scope", "ttl", "type", "cache_control", "content", "custom", "x", "model"});
          object[kKeys[rng_() % std::size(kKeys)]] = Value(depth - 1);
        }
        return object;
      }
    }
  }

  std::mt19937_64 rng_;
};

TEST(BedrockBodyTest, RandomBodiesMatchTheReference) {
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    SCOPED_TRACE(seed);
    RandomBody random(seed);
    const OrderedJson body = random.Body();
    const std::vector<std::string> betas = random.Betas();
    const bool allow_ttl = !random.Chance(3);
    switch (seed % 3) {
      case 0:
        ExpectMatchesReference(body.dump(), betas, allow_ttl);
        break;
      case 1:
        ExpectMatchesReference(body.dump(2), betas, allow_ttl);
        break;
      default:
        ExpectMatchesReference(body.dump(-1, ' ', /*ensure_ascii=*/true), betas, allow_ttl);
    }
    if (HasFatalFailure() || HasNonfatalFailure()) {
      break;
    }
  }
}

}  // namespace
}  // namespace ccrelay::providers::bedrock
