// Active health checks through the real relay (`cc-relay serve`: the control plane checks, its
// data plane gets the verdicts in snapshots and reports what it observes back): a key the
// upstream refuses is taken out before any client request reaches it, an unreachable provider is
// skipped without a failed attempt, failed checks never stall a request, a data plane's 401 gets
// the key checked at once, and a key that passes its check again comes back.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "dataplane/common/secret.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_fixture.h"
#include "tests/fakes/test_ca.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr milliseconds kVerdictTimeout{5000};

// An upstream whose keys can be refused (401 to everything, probes included) and let back in.
class KeyedUpstream {
 public:
  explicit KeyedUpstream(const FakeUpstream::Options& options = {}) : fake_(options) {
    fake_.SetHandler([this](const RecordedRequest& req, Responder& r) {
      const std::string key = req.Header("x-api-key").value_or("");
      if (Refused(key) || (req.method == "GET" && ProbeRefused(key))) {
        r.Respond(401, {{"content-type", "application/json"}},
                  AnthropicErrorJson("authentication_error", "invalid x-api-key"));
      } else if (req.method == "GET") {
        r.Respond(200, {{"content-type", "application/json"}},
                  R"({"data":[{"type":"model","id":"claude-test-1"}],"has_more":false})");
      } else {
        MessageScript()(req, r);
      }
    });
  }

  FakeUpstream& fake() { return fake_; }
  void Refuse(const std::string& key, bool refused) {
    std::lock_guard<std::mutex> lock(mu_);
    if (refused) {
      refused_.insert(key);
    } else {
      refused_.erase(key);
    }
  }
  // Only the health check's GET is refused (POST /v1/messages still works).
  void RefuseProbes(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    probe_refused_.insert(key);
  }
  // Requests with this key and method, from index `from` on.
  size_t Count(const std::string& method, const std::string& key, size_t from = 0) const {
    size_t n = 0;
    const auto requests = fake_.requests();
    for (size_t i = from; i < requests.size(); ++i) {
      n += requests[i].method == method && requests[i].Header("x-api-key") == key ? 1 : 0;
    }
    return n;
  }

 private:
  bool Refused(const std::string& key) const {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_.count(key) != 0;
  }
  bool ProbeRefused(const std::string& key) const {
    std::lock_guard<std::mutex> lock(mu_);
    return probe_refused_.count(key) != 0;
  }

  mutable std::mutex mu_;
  std::set<std::string> refused_;
  std::set<std::string> probe_refused_;
  // Last: destroyed (its threads joined) first, while the handler's state still exists.
  FakeUpstream fake_;
};

class HealthCheckTest : public RelayTest {
 protected:
  // cc-relayctl --output json against this relay's control plane.
  nlohmann::json Ctl(std::vector<std::string> args) {
    std::vector<std::string> full = {CCR_RELAYCTL_BINARY, "--control-plane",
                                     ControlPlaneAddress(), "--output", "json"};
    full.insert(full.end(), args.begin(), args.end());
    const CommandResult r = RunCommand(full);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return ParseJson(r.out);
  }

  // The key's entry in `cc-relayctl keys list`.
  nlohmann::json KeyInfo(const std::string& provider, const std::string& secret) {
    const nlohmann::json keys = Ctl({"keys", "list", "--provider", provider});
    for (const auto& k : keys.value("keys", nlohmann::json::array())) {
      if (k.value("fingerprint", "") == common::FingerprintOf(secret)) {
        return k;
      }
    }
    ADD_FAILURE() << "no key " << common::FingerprintOf(secret) << " in " << keys.dump();
    return nlohmann::json::object();
  }

  // Waits for the control plane's verdict on a key in its log (`health_check ... version=N`),
  // then until the data plane has applied version N, the snapshot that carries it.
  void WaitForVerdict(const std::string& provider, const std::string& secret,
                      const std::string& state) {
    const std::vector<std::string> needles = {
        "health_check", "provider=\"" + provider + "\"", "state=\"" + state + "\"",
        "key=\"" + common::FingerprintOf(secret) + "\""};
    ASSERT_TRUE(relay().WaitForLogLines(needles, 1, kVerdictTimeout))
        << "no " << state << " verdict for " << provider << "\n"
        << relay().log();
    const std::string line = relay().LogLinesWith(needles).back();
    const size_t at = line.find(" version=");
    ASSERT_NE(at, std::string::npos) << line;
    const uint64_t version = std::stoull(line.substr(at + 9));
    // Snapshots that arrive during an apply are coalesced: any version from N on will do.
    const auto deadline = std::chrono::steady_clock::now() + kVerdictTimeout;
    while (AppliedVersion() < version) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "the data plane did not apply version " << version << "\n"
          << relay().log();
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  // The newest version the data plane logged as applied.
  uint64_t AppliedVersion() {
    uint64_t newest = 0;
    for (const std::string& line : relay().LogLinesWith({"snapshot_applied version="})) {
      const size_t at = line.find("snapshot_applied version=") + 25;
      newest = std::max<uint64_t>(newest, std::stoull(line.substr(at)));
    }
    return newest;
  }
};

TEST_F(HealthCheckTest, RefusedKeyIsTakenOutBeforeAnyRequestReachesIt) {
  KeyedUpstream up;
  up.Refuse("sk-hc-revoked", true);
  RelayConfig config;
  config.providers = {ProviderFor("a", up.fake(), {"sk-hc-revoked", "sk-hc-good"})};
  config.health_check_interval_ms = 60000;  // the first round runs at start
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  ASSERT_NO_FATAL_FAILURE(WaitForVerdict("a", "sk-hc-revoked", "auth_failed"));

  for (int i = 0; i < 6; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
    EXPECT_EQ(resp.Header("x-cc-relay-key"), common::FingerprintOf("sk-hc-good"));
  }
  EXPECT_EQ(up.Count("POST", "sk-hc-revoked"), 0u) << "no client request was sent with it";

  // The probe: one cheap authenticated GET per key.
  bool probed = false;
  for (const auto& r : up.fake().requests()) {
    if (r.method == "GET" && r.Header("x-api-key") == "sk-hc-revoked") {
      probed = true;
      EXPECT_EQ(r.target, "/v1/models?limit=1");
      EXPECT_EQ(r.Header("anthropic-version"), "2023-06-01");
      EXPECT_THAT(r.Header("user-agent").value_or(""), HasSubstr("health-check"));
    }
  }
  EXPECT_TRUE(probed);

  const nlohmann::json key = KeyInfo("a", "sk-hc-revoked");
  EXPECT_EQ(key.value("state", ""), "auth_failed") << key.dump();
  EXPECT_EQ(key.value("check_state", ""), "auth_failed") << key.dump();
  EXPECT_THAT(key.value("reason", ""), HasSubstr("health check: HTTP 401 authentication_error"));
  EXPECT_EQ(KeyInfo("a", "sk-hc-good").value("check_state", ""), "healthy");
  EXPECT_EQ(relay().log().find("sk-hc-revoked"), std::string::npos)
      << "the key itself is never logged";
}

TEST_F(HealthCheckTest, UnreachableProviderIsSkippedWithoutAFailedAttempt) {
  KeyedUpstream b;
  RelayConfig config;
  ProviderSpec dead;
  dead.name = "a";
  dead.base_url = "http://127.0.0.1:" + std::to_string(UnusedPort());
  dead.keys = {{"sk-hc-dead"}};
  config.providers = {dead, ProviderFor("b", b.fake(), {"sk-hc-b"})};  // failover: a first
  config.health_check_interval_ms = 60000;
  config.health_checks_yaml = "    unhealthy_threshold: 1\n";
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  ASSERT_NO_FATAL_FAILURE(WaitForVerdict("a", "sk-hc-dead", "unhealthy"));

  HttpResponse resp = Post("/v1/messages", MessageBody());
  ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_EQ(resp.Header("x-cc-relay-provider"), "b");
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "1") << "the dead primary is not tried first";

  const nlohmann::json providers = Ctl({"providers", "list"});
  bool seen = false;
  for (const auto& p : providers.value("providers", nlohmann::json::array())) {
    if (p.value("name", "") == "a") {
      seen = true;
      EXPECT_EQ(p.value("health", ""), "unhealthy") << p.dump();
      EXPECT_EQ(p.value("check_state", ""), "unhealthy") << p.dump();
      EXPECT_THAT(p.value("check_reason", ""), HasSubstr("connect"));
    }
  }
  EXPECT_TRUE(seen) << providers.dump();
}

TEST_F(HealthCheckTest, FailedChecksNeverStallARequest) {
  // The only key fails its check (its GET is refused) but still serves messages: with nothing
  // else left it is tried, and the answer is what counts.
  KeyedUpstream up;
  up.RefuseProbes("sk-hc-only");
  RelayConfig config;
  config.providers = {ProviderFor("a", up.fake(), {"sk-hc-only"})};
  config.health_check_interval_ms = 60000;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  ASSERT_NO_FATAL_FAILURE(WaitForVerdict("a", "sk-hc-only", "auth_failed"));
  for (int i = 0; i < 3; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
    EXPECT_EQ(resp.Header("x-cc-relay-key"), common::FingerprintOf("sk-hc-only"));
  }
}

TEST_F(HealthCheckTest, DataPlaneReportOfA401GetsTheKeyCheckedAtOnce) {
  KeyedUpstream up;
  RelayConfig config;
  config.providers = {ProviderFor("a", up.fake(), {"sk-hc-flaky", "sk-hc-steady"})};
  config.health_check_interval_ms = 60000;  // no second round during the test
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  ASSERT_TRUE(up.fake().WaitForRequests(2, kVerdictTimeout)) << "the first round";
  // An early check follows the last probe of a key by at least HealthChecker::kMinEarlyGap.
  std::this_thread::sleep_for(milliseconds(1100));

  up.Refuse("sk-hc-flaky", true);
  const size_t mark = up.fake().request_count();
  for (int i = 0; i < 4; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
    EXPECT_EQ(resp.Header("x-cc-relay-key"), common::FingerprintOf("sk-hc-steady"));
  }
  ASSERT_EQ(up.Count("POST", "sk-hc-flaky", mark), 1u) << "taken out after its one 401";
  // The data plane reported it; the control plane probed the key at once (the interval is a
  // minute) and its verdict went out in a snapshot.
  ASSERT_NO_FATAL_FAILURE(WaitForVerdict("a", "sk-hc-flaky", "auth_failed"));
  EXPECT_GE(up.Count("GET", "sk-hc-flaky", mark), 1u);
  const nlohmann::json key = KeyInfo("a", "sk-hc-flaky");
  EXPECT_EQ(key.value("state", ""), "auth_failed") << key.dump();
  EXPECT_THAT(key.value("reason", ""), HasSubstr("(serve-")) << "observed by the data plane";
  EXPECT_EQ(key.value("check_state", ""), "auth_failed") << key.dump();
}

TEST_F(HealthCheckTest, KeyDisabledByA401ComesBackOnceItsCheckPasses) {
  KeyedUpstream up;
  RelayConfig config;
  config.providers = {ProviderFor("a", up.fake(), {"sk-hc-flaky", "sk-hc-steady"})};
  config.health_check_interval_ms = 300;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  ASSERT_TRUE(up.fake().WaitForRequests(2, kVerdictTimeout)) << "the first round";

  up.Refuse("sk-hc-flaky", true);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Post("/v1/messages", MessageBody()).status, 200);
  }
  ASSERT_TRUE(relay().WaitForLogLines(
      {"key_disabled", "key=" + common::FingerprintOf("sk-hc-flaky")}, 1, kVerdictTimeout));
  ASSERT_NO_FATAL_FAILURE(WaitForVerdict("a", "sk-hc-flaky", "auth_failed"));

  up.Refuse("sk-hc-flaky", false);  // fixed upstream (say, billing restored)
  ASSERT_NO_FATAL_FAILURE(WaitForVerdict("a", "sk-hc-flaky", "healthy"));
  ASSERT_TRUE(relay().WaitForLogLines(
      {"key_enabled", "key=\"" + common::FingerprintOf("sk-hc-flaky") + "\""}, 1,
      kVerdictTimeout))
      << relay().log();
  const size_t mark = up.fake().request_count();
  for (int i = 0; i < 4; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
  }
  EXPECT_GE(up.Count("POST", "sk-hc-flaky", mark), 1u) << "the key is in rotation again";
}

TEST_F(HealthCheckTest, ChecksSpeakVerifiedTls) {
  std::string error;
  std::unique_ptr<TestPki> pki = TestPki::Create(&error);
  ASSERT_NE(pki, nullptr) << error;
  FakeUpstream::Options tls;
  tls.tls = true;
  tls.cert_file = pki->localhost().cert_file;
  tls.key_file = pki->localhost().key_file;
  KeyedUpstream trusted(tls);
  KeyedUpstream untrusted(tls);
  trusted.Refuse("sk-hc-tls-revoked", true);
  ProviderSpec a = ProviderFor("a", trusted.fake(), {"sk-hc-tls-revoked", "sk-hc-tls-good"});
  a.ca_file = pki->ca_file();
  ProviderSpec b = ProviderFor("b", untrusted.fake(), {"sk-hc-tls-b"});  // no ca_file
  RelayConfig config;
  config.providers = {a, b};
  config.health_check_interval_ms = 60000;
  config.health_checks_yaml = "    unhealthy_threshold: 1\n";
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  // Over HTTPS with the provider's CA: the answer (a 401) came back through TLS.
  ASSERT_NO_FATAL_FAILURE(WaitForVerdict("a", "sk-hc-tls-revoked", "auth_failed"));
  EXPECT_EQ(KeyInfo("a", "sk-hc-tls-good").value("check_state", ""), "healthy");
  // A certificate the system store does not trust fails the check, as it fails traffic.
  ASSERT_NO_FATAL_FAILURE(WaitForVerdict("b", "sk-hc-tls-b", "unhealthy"));
  EXPECT_THAT(KeyInfo("b", "sk-hc-tls-b").value("check_reason", ""), HasSubstr("tls handshake"));
  EXPECT_EQ(untrusted.fake().request_count(), 0u) << "nothing was sent over an untrusted link";
}

TEST_F(HealthCheckTest, SubscriptionTokensAreNeverProbed) {
  // OAuth tokens are for Anthropic's own clients: the relay forwards requests made with them but
  // makes none of its own (protocols.md 1.3).
  KeyedUpstream up;
  RelayConfig config;
  config.providers = {ProviderFor("a", up.fake(), {"sk-ant-oat01-hc-fake", "sk-hc-api"}),
                      ProviderFor("b", up.fake(), {"sk-ant-oat01-hc-only"})};
  config.health_check_interval_ms = 60000;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  // b has only a token: it is checked once, without credentials (its 401 proves it is there).
  ASSERT_TRUE(up.fake().WaitForRequests(2, kVerdictTimeout));
  // (A first healthy verdict is not logged: ask the control plane until it has one.)
  const auto deadline = std::chrono::steady_clock::now() + kVerdictTimeout;
  while (KeyInfo("a", "sk-hc-api").value("check_state", "") != "healthy") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << relay().log();
    std::this_thread::sleep_for(milliseconds(50));
  }
  size_t without_credentials = 0;
  for (const auto& r : up.fake().requests()) {
    const std::string auth = r.Header("authorization").value_or("");
    EXPECT_EQ(auth.find("sk-ant-oat01"), std::string::npos) << r.method << " " << r.target;
    if (r.method == "GET" && auth.empty() && !r.HasHeader("x-api-key")) {
      ++without_credentials;
    }
  }
  EXPECT_EQ(without_credentials, 1u) << "b's reachability check";
  EXPECT_EQ(KeyInfo("a", "sk-ant-oat01-hc-fake").value("check_state", ""), "unknown");
}

}  // namespace
}  // namespace ccrelay::testing
