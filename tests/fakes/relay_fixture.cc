#include "tests/fakes/relay_fixture.h"

#include <cstdio>

#include <openssl/evp.h>

namespace ccrelay::testing {

void RelayTest::TearDown() {
  if (relay_ == nullptr) {
    return;
  }
  if (!relay_->exited()) {
    const std::optional<int> status = relay_->Stop(std::chrono::milliseconds(10000));
    if (expect_clean_exit_) {
      EXPECT_EQ(status, std::optional<int>(0)) << "cc-relay did not exit cleanly on SIGTERM";
    }
  }
  if (HasFailure()) {
    std::string log = relay_->log();
    constexpr size_t kMax = 16000;
    if (log.size() > kMax) {
      log = "...\n" + log.substr(log.size() - kMax);
    }
    std::fprintf(stderr, "---- cc-relay log (%s) ----\n%s---- end of log ----\n",
                 relay_->config_path().c_str(), log.c_str());
  }
}

void RelayTest::StartRelay(const RelayConfig& config) {
  relay_ = std::make_unique<RelayProcess>();
  const std::string yaml = config.ToYaml();
  ASSERT_TRUE(relay_->Start(yaml)) << relay_->error() << "\nconfig:\n"
                                   << yaml << "\nlog:\n"
                                   << relay_->log();
}

std::string RelayTest::ControlPlaneAddress() {
  const std::string needle = "control_plane_listening address=";
  EXPECT_TRUE(relay().WaitForLog(needle, std::chrono::milliseconds(2000)));
  const std::string log = relay().log();
  const size_t at = log.find(needle);
  if (at == std::string::npos) {
    return "";
  }
  const size_t begin = at + needle.size();
  return log.substr(begin, log.find_first_of(" \n", begin) - begin);
}

HttpResponse RelayTest::Post(std::string_view target, std::string_view body,
                             const Headers& headers) {
  return Fetch(port(), "POST", target, headers, body);
}

HttpResponse RelayTest::Post(std::string_view target, std::string_view body) {
  return Post(target, body, ClientHeaders());
}

HttpResponse RelayTest::Get(std::string_view target, const Headers& headers) {
  return Fetch(port(), "GET", target, headers, "");
}

ProviderSpec ProviderFor(std::string name, const FakeUpstream& fake, std::vector<std::string> keys,
                         std::string type) {
  ProviderSpec p;
  p.name = std::move(name);
  p.type = std::move(type);
  p.base_url = fake.base_url();
  for (auto& k : keys) {
    p.keys.push_back(KeySpec{.key = std::move(k)});
  }
  return p;
}

RelayConfig OneProvider(const FakeUpstream& fake, std::vector<std::string> keys) {
  RelayConfig config;
  config.providers.push_back(ProviderFor("a", fake, std::move(keys)));
  return config;
}

std::string MessageBody(std::string_view model, bool stream) {
  std::string body = R"({"model":")";
  body += model;
  body += R"(","max_tokens":1024,)";
  if (stream) {
    body += R"("stream":true,)";
  }
  body += R"("messages":[{"role":"user","content":"Hello, relay"}]})";
  return body;
}

Headers ClientHeaders(std::string_view api_key) {
  return {
      {"content-type", "application/json"},
      {"anthropic-version", "2023-06-01"},
      {"anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14"},
      {"x-api-key", std::string(api_key)},
  };
}

nlohmann::json ParseJson(std::string_view text) {
  return nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
}

::testing::AssertionResult IsAnthropicError(std::string_view body, std::string_view type) {
  const nlohmann::json j = ParseJson(body);
  if (j.is_discarded() || !j.is_object()) {
    return ::testing::AssertionFailure() << "not JSON: " << body;
  }
  if (j.value("type", "") != "error" || !j.contains("error") || !j["error"].is_object()) {
    return ::testing::AssertionFailure() << "not an Anthropic error: " << body;
  }
  if (j["error"].value("type", "") != type) {
    return ::testing::AssertionFailure() << "error.type is not " << type << ": " << body;
  }
  if (!j["error"].contains("message") || !j["error"]["message"].is_string()) {
    return ::testing::AssertionFailure() << "no error.message: " << body;
  }
  if (!j.contains("request_id") || !j["request_id"].is_string() ||
      j["request_id"].get<std::string>().empty()) {
    return ::testing::AssertionFailure() << "no request_id: " << body;
  }
  return ::testing::AssertionSuccess();
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  std::string out;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", digest[i]);
    out += buf;
  }
  return out;
}

}  // namespace ccrelay::testing
