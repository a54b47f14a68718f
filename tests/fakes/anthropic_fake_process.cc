#include "tests/fakes/anthropic_fake_process.h"

#include <chrono>

#include "tests/fakes/http_client.h"
#include "tests/fakes/python_fake.h"

namespace ccrelay::testing {

namespace {

std::string TokensJson(const std::vector<FakeBearerToken>& tokens) {
  nlohmann::json j;
  j["tokens"] = nlohmann::json::array();
  for (const FakeBearerToken& t : tokens) {
    nlohmann::json e;
    e["token"] = t.token;
    if (t.expires_unix_ms.has_value()) {
      e["expires_unix_ms"] = *t.expires_unix_ms;
    }
    j["tokens"].push_back(e);
  }
  return j.dump();
}

}  // namespace

int64_t UnixMsFromNow(int64_t offset_ms) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() +
         offset_ms;
}

AnthropicFakeProcess::AnthropicFakeProcess(std::string_view script,
                                           const AnthropicFakeOptions& options,
                                           const std::vector<std::string>& args) {
  tokens_path_ = dir_.WriteFile("tokens.json", TokensJson(options.tokens));
  request_log_path_ = dir_.path() + "/requests.jsonl";
  std::vector<std::string> argv = {"--request-log", request_log_path_, "--tokens", tokens_path_};
  // "--flag=value": a value may start with '-'.
  for (const std::string& f : options.tokens_files) {
    argv.push_back("--tokens=" + f);
  }
  for (const std::string& t : options.static_tokens) {
    argv.push_back("--static-token=" + t);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  port_ = StartPythonFake(&process_, script, argv);
}

AnthropicFakeProcess::~AnthropicFakeProcess() { process_.Stop(std::chrono::milliseconds(2000)); }

void AnthropicFakeProcess::SetTokens(const std::vector<FakeBearerToken>& tokens) {
  ReplaceFileAtomically(tokens_path_, TokensJson(tokens));
}

std::vector<nlohmann::json> AnthropicFakeProcess::Requests() const {
  return ReadFakeRequestLog(request_log_path_);
}

nlohmann::json AnthropicFakeProcess::LastRequest() const {
  std::vector<nlohmann::json> all = Requests();
  return all.empty() ? nlohmann::json() : all.back();
}

bool AnthropicFakeProcess::FailNext(int status, int count, std::string_view type) {
  std::string target =
      "/__fake/fail-next?status=" + std::to_string(status) + "&n=" + std::to_string(count);
  if (!type.empty()) {
    target += "&type=" + std::string(type);
  }
  return Fetch(port_, "POST", target, {}, {}, std::chrono::seconds(5)).status == 200;
}

bool AnthropicFakeProcess::Reset() {
  return Fetch(port_, "POST", "/__fake/reset", {}, {}, std::chrono::seconds(5)).status == 200;
}

}  // namespace ccrelay::testing
