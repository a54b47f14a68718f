// ccr_bench_body: writes a deterministic, realistic Claude Code request body of about N bytes.
//
//   ccr_bench_body --bytes N [--model M] [--no-stream] [--out FILE]
//
// The shape follows what Claude Code 2.1 sends (docs/claude-code-wire.md): keys in wire order
// (model, messages, system, tools, metadata, max_tokens, thinking, context_management, stream),
// three system blocks, metadata.user_id as a JSON string, cache_control on the system blocks and
// on the last user block, and a conversation of tool round trips (text, tool_use, tool_result
// with file contents and command output, escapes and some non-ASCII text). "stream" comes last,
// after the long messages array, as on the wire. Bodies of 20 KB and more carry a tool set.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ccrelay::bench {
namespace {

using Json = nlohmann::ordered_json;

// A small deterministic generator (no dependence on the standard library's distributions).
class Rng {
 public:
  std::uint64_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  std::size_t Below(std::size_t n) { return static_cast<std::size_t>(Next() % n); }

 private:
  std::uint64_t state_ = 0x9e3779b97f4a7c15ull;
};

constexpr std::string_view kWords[] = {
    "the",      "request",    "handler",  "returns", "status",   "config", "stream", "buffer",
    "upstream", "session",    "provider", "retry",   "deadline", "parse",  "header", "body",
    "error",    "connection", "pool",     "worker",  "snapshot", "route",  "model",  "token",
    "usage",    "latency",    "event",    "message", "client",   "server", "test",   "build",
    "café",     "naïve",      "→",        "résumé",  "ok",       "value",  "index",  "result"};

std::string Prose(Rng& rng, std::size_t words) {
  std::string out;
  for (std::size_t i = 0; i < words; ++i) {
    if (i > 0) {
      out += (rng.Below(12) == 0) ? ".\n" : " ";
    }
    out += kWords[rng.Below(std::size(kWords))];
  }
  out += ".";
  return out;
}

std::string SourceFile(Rng& rng, std::size_t lines) {
  std::string out;
  for (std::size_t i = 1; i <= lines; ++i) {
    char prefix[16];
    std::snprintf(prefix, sizeof(prefix), "%6zu\t", i);
    out += prefix;
    switch (rng.Below(5)) {
      case 0:
        out += "  absl::Status status = " + std::string(kWords[rng.Below(8)]) + "_->Run(\"" +
               std::string(kWords[rng.Below(std::size(kWords))]) + "\");";
        break;
      case 1:
        out += "  if (!status.ok()) {\n      return status;  // \"propagate\"\n    }";
        break;
      case 2:
        out += "  // " + Prose(rng, 8);
        break;
      case 3:
        out += "  std::string " + std::string(kWords[rng.Below(16)]) + " = \"\\t" +
               std::string(kWords[rng.Below(16)]) + "\";";
        break;
      default:
        out += "}";
    }
    out += "\n";
  }
  return out;
}

Json Tool(std::string name, std::string description, Json properties, Json required) {
  return Json{{"name", std::move(name)},
              {"description", std::move(description)},
              {"input_schema", Json{{"type", "object"},
                                    {"properties", std::move(properties)},
                                    {"required", std::move(required)},
                                    {"additionalProperties", false},
                                    {"$schema", "http://json-schema.org/draft-07/schema#"}}}};
}

Json Tools(Rng& rng) {
  Json tools = Json::array();
  auto str = [](std::string d) { return Json{{"type", "string"}, {"description", std::move(d)}}; };
  tools.push_back(Tool(
      "Bash", "Executes a given bash command in a persistent shell session. " + Prose(rng, 160),
      Json{{"command", str("The command to execute")},
           {"timeout", Json{{"type", "number"}, {"description", "Optional timeout in ms"}}},
           {"description", str("Clear, concise description of the command")}},
      Json::array({"command"})));
  tools.push_back(Tool("Read", "Reads a file from the local filesystem. " + Prose(rng, 120),
                       Json{{"file_path", str("The absolute path to the file to read")},
                            {"offset", Json{{"type", "number"}}},
                            {"limit", Json{{"type", "number"}}}},
                       Json::array({"file_path"})));
  tools.push_back(Tool("Edit", "Performs exact string replacements in files. " + Prose(rng, 140),
                       Json{{"file_path", str("The absolute path to the file to modify")},
                            {"old_string", str("The text to replace")},
                            {"new_string", str("The text to replace it with")},
                            {"replace_all", Json{{"type", "boolean"}, {"default", false}}}},
                       Json::array({"file_path", "old_string", "new_string"})));
  tools.push_back(Tool("Grep", "A powerful search tool built on ripgrep. " + Prose(rng, 150),
                       Json{{"pattern", str("The regular expression pattern")},
                            {"path", str("File or directory to search in")},
                            {"glob", str("Glob pattern to filter files")}},
                       Json::array({"pattern"})));
  tools.push_back(Tool("Glob", "Fast file pattern matching tool. " + Prose(rng, 80),
                       Json{{"pattern", str("The glob pattern")}, {"path", str("Directory")}},
                       Json::array({"pattern"})));
  tools.push_back(
      Tool("Write", "Writes a file to the local filesystem. " + Prose(rng, 90),
           Json{{"file_path", str("The absolute path")}, {"content", str("The content to write")}},
           Json::array({"file_path", "content"})));
  tools.push_back(
      Tool("TodoWrite", "Create and manage a structured task list. " + Prose(rng, 200),
           Json{{"todos", Json{{"type", "array"}, {"items", Json{{"type", "object"}}}}}},
           Json::array({"todos"})));
  return tools;
}

Json Base(Rng& rng, const std::string& model, bool with_tools, bool stream) {
  Json body;
  body["model"] = model;
  body["messages"] = Json::array();
  body["system"] = Json::array(
      {Json{{"type", "text"},
            {"text", "x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=cli;"}},
       Json{{"type", "text"},
            {"text", "You are Claude Code, Anthropic's official CLI for Claude."},
            {"cache_control", Json{{"type", "ephemeral"}}}},
       Json{{"type", "text"},
            {"text",
             "You are an interactive CLI tool that helps users with software "
             "engineering tasks. " +
                 Prose(rng, with_tools ? 900 : 60)},
            {"cache_control", Json{{"type", "ephemeral"}}}}});
  if (with_tools) {
    body["tools"] = Tools(rng);
  }
  body["metadata"] =
      Json{{"user_id",
            "{\"device_id\":\"5f0c3a1e9b2d4c7e8f6a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6\","
            "\"account_uuid\":\"\",\"session_id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\"}"}};
  body["max_tokens"] = 32000;
  body["thinking"] = Json{{"type", "enabled"}, {"budget_tokens", 31999}};
  body["context_management"] =
      Json{{"edits", Json::array({Json{{"type", "clear_thinking_20251015"}, {"keep", "all"}}})}};
  body["stream"] = stream;
  return body;
}

std::string Generate(std::size_t target, const std::string& model, bool stream) {
  Rng rng;
  const bool with_tools = target >= 20 * 1024;
  Json body = Base(rng, model, with_tools, stream);
  Json& messages = body["messages"];
  messages.push_back(Json{{"role", "user"},
                          {"content", Json::array({Json{{"type", "text"},
                                                        {"text",
                                                         "Fix the failing test in the "
                                                         "connection pool. " +
                                                             Prose(rng, 20)}}})}});
  // Tool round trips until the body is large enough: assistant [text, tool_use], user
  // [tool_result]. The last tool_result is then trimmed so the size lands near the target.
  for (int turn = 0; body.dump().size() < target; ++turn) {
    const std::string id = "toolu_01" + std::to_string(100000 + turn) + "Bench";
    const bool read = turn % 2 == 0;
    messages.push_back(Json{
        {"role", "assistant"},
        {"content",
         Json::array({Json{{"type", "text"}, {"text", Prose(rng, 25)}},
                      Json{{"type", "tool_use"},
                           {"id", id},
                           {"name", read ? "Read" : "Bash"},
                           {"input", read ? Json{{"file_path", "/src/dataplane/upstream/pool_" +
                                                                   std::to_string(turn) + ".cc"}}
                                          : Json{{"command", "ctest -R pool --output-on-failure"},
                                                 {"description", "Run the pool tests"}}}}})}});
    const std::size_t lines = std::max<std::size_t>(4, std::min<std::size_t>(120, target / 400));
    messages.push_back(Json{
        {"role", "user"},
        {"content",
         Json::array({Json{{"type", "tool_result"},
                           {"tool_use_id", id},
                           {"content", read ? SourceFile(rng, lines)
                                            : "Test project /src/build\n" + Prose(rng, lines * 6)},
                           {"is_error", false}}})}});
  }
  // Trim the last tool_result's content to get close to the target.
  Json& last = messages.back()["content"][0];
  if (last.contains("content")) {
    std::string content = last["content"].get<std::string>();
    const std::size_t size = body.dump().size();
    if (size > target && size - target < content.size()) {
      content.resize(content.size() - (size - target));
      // Do not leave half a UTF-8 sequence behind.
      while (!content.empty() && (static_cast<unsigned char>(content.back()) & 0xC0) == 0x80) {
        content.pop_back();
      }
      if (!content.empty() && (static_cast<unsigned char>(content.back()) & 0x80) != 0) {
        content.pop_back();
      }
      last["content"] = content;
    }
  }
  messages.back()["content"].back()["cache_control"] = Json{{"type", "ephemeral"}};
  return body.dump();
}

int Main(int argc, char** argv) {
  std::size_t bytes = 3 * 1024;
  std::string model = "claude-sonnet-4-5-20250929";
  bool stream = true;
  std::string out_path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--bytes" && i + 1 < argc) {
      bytes = static_cast<std::size_t>(std::strtoull(argv[++i], nullptr, 10));
    } else if (arg == "--model" && i + 1 < argc) {
      model = argv[++i];
    } else if (arg == "--no-stream") {
      stream = false;
    } else if (arg == "--out" && i + 1 < argc) {
      out_path = argv[++i];
    } else {
      std::cerr << "usage: ccr_bench_body --bytes N [--model M] [--no-stream] [--out FILE]\n";
      return 2;
    }
  }
  const std::string body = Generate(bytes, model, stream);
  if (out_path.empty()) {
    std::cout << body;
    return 0;
  }
  std::FILE* f = std::fopen(out_path.c_str(), "wb");
  if (f == nullptr || std::fwrite(body.data(), 1, body.size(), f) != body.size()) {
    std::cerr << "ccr_bench_body: cannot write " << out_path << "\n";
    return 1;
  }
  std::fclose(f);
  return 0;
}

}  // namespace
}  // namespace ccrelay::bench

int main(int argc, char** argv) { return ccrelay::bench::Main(argc, argv); }
