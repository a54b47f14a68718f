#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include <nlohmann/json.hpp>

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_config.h"
#include "tests/fakes/relay_process.h"

namespace ccrelay::testing {

// Base fixture of the integration tests: one cc-relay process per test, started from a
// RelayConfig. TearDown stops it (SIGTERM), expects exit code 0, and prints its log when the
// test failed.
class RelayTest : public ::testing::Test {
 public:
  void TearDown() override;

  // Starts the relay; adds a fatal failure if it does not come up (wrap in
  // ASSERT_NO_FATAL_FAILURE).
  void StartRelay(const RelayConfig& config);
  RelayProcess& relay() { return *relay_; }
  uint16_t port() const { return relay_->port(); }

  HttpResponse Post(std::string_view target, std::string_view body, const Headers& headers);
  HttpResponse Post(std::string_view target, std::string_view body);  // ClientHeaders()
  HttpResponse Get(std::string_view target, const Headers& headers = {});
  // The control plane's gRPC address, from its `control_plane_listening` log line ("" and a
  // failure when there is none).
  std::string ControlPlaneAddress();

  std::unique_ptr<RelayProcess> relay_;
  bool expect_clean_exit_ = true;
};

// A provider entry pointing at a fake upstream, serving "claude-test-1".
ProviderSpec ProviderFor(std::string name, const FakeUpstream& fake,
                         std::vector<std::string> keys = {}, std::string type = "anthropic");
// A single-provider failover config.
RelayConfig OneProvider(const FakeUpstream& fake, std::vector<std::string> keys = {"sk-prov-a1"});

// A /v1/messages request body.
std::string MessageBody(std::string_view model = "claude-test-1", bool stream = false);
// What Claude Code sends: content-type, anthropic-version, anthropic-beta, x-api-key.
Headers ClientHeaders(std::string_view api_key = "sk-client-key");

// Non-throwing JSON parse (discarded value if invalid).
nlohmann::json ParseJson(std::string_view text);
// True if `body` is Anthropic's error JSON with this error.type and a non-empty request_id.
::testing::AssertionResult IsAnthropicError(std::string_view body, std::string_view type);
// Lowercase hex SHA-256.
std::string Sha256Hex(std::string_view data);

}  // namespace ccrelay::testing
