// The control plane's HTTP listener over TLS (`--http-tls-cert`/`--http-tls-key`, issue 16): a
// real `cc-relay control-plane` (and `serve`) with a certificate from the test PKI, checked with
// curl (Debian package `curl`): /health, /metrics and /ui/ answer over HTTPS, the session
// cookie is Secure, a plaintext client fails cleanly and the server goes on.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/fakes/child_process.h"
#include "tests/fakes/temp_dir.h"
#include "tests/fakes/test_ca.h"

namespace ccrelay::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kConfig = R"(health:
  checks:
    interval_ms: 0
providers:
  - name: anthropic
    type: anthropic
    keys:
      - key: sk-config-https-a
)";
constexpr std::string_view kAdminToken = "https-admin-token-Vb7qW2";
constexpr std::chrono::seconds kStart{15};
constexpr const char* kCurl = "/usr/bin/curl";

class ControlPlaneHttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    pki_ = TestPki::Create(&error);
    ASSERT_NE(pki_, nullptr) << error;
    config_ = dir_.WriteFile("config.yaml", kConfig);
    token_file_ = dir_.WriteFile("admin.token", std::string(kAdminToken) + "\n");
  }

  // Starts `cc-relay <args>` and returns the HTTP listener's port ("" on failure).
  std::string Start(ChildProcess* proc, const std::vector<std::string>& args) {
    std::vector<std::string> all = {CCR_RELAY_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    EXPECT_TRUE(proc->Start(all)) << proc->error();
    const std::optional<std::string> port =
        proc->WaitForValue("control_plane_http_listening address=127.0.0.1:", kStart);
    EXPECT_TRUE(port.has_value()) << proc->log();
    return port.value_or("");
  }

  // curl over HTTPS to localhost:port (the test CA trusted, host name checked): headers and
  // body, then "|<http code>".
  CommandResult Curl(const std::string& port, const std::string& path,
                     const std::vector<std::string>& extra = {}, std::string_view stdin_data = {}) {
    std::vector<std::string> args = {kCurl, "-sS",      "--max-time",    "10", "-D",
                                     "-",   "--cacert", pki_->ca_file(), "-w", "|%{http_code}"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("https://localhost:" + port + path);
    return RunCommand(args, stdin_data);
  }

  std::unique_ptr<TestPki> pki_;
  TempDir dir_;
  std::string config_;
  std::string token_file_;
};

TEST_F(ControlPlaneHttpsTest, ServesHealthMetricsAndTheDashboardOnlyOverHttps) {
  ChildProcess cp;
  const std::string port = Start(
      &cp, {"control-plane", "--config", config_, "--listen", "127.0.0.1:0", "--http-listen",
            "127.0.0.1:0", "--http-tls-cert", pki_->localhost().cert_file, "--http-tls-key",
            pki_->localhost().key_file, "--token-file", token_file_, "--db", "none", "--no-watch"});
  ASSERT_FALSE(port.empty());
  EXPECT_EQ(cp.LogLinesWith({"control_plane_http_listening", "tls=true"}).size(), 1u) << cp.log();

  CommandResult health = Curl(port, "/health");
  ASSERT_EQ(health.exit_code, 0) << health.err;
  EXPECT_THAT(health.out, HasSubstr("{\"status\":\"ok\"}|200"));
  CommandResult metrics = Curl(port, "/metrics");
  EXPECT_THAT(metrics.out, HasSubstr("# TYPE "));
  EXPECT_THAT(metrics.out, HasSubstr("|200"));
  CommandResult page = Curl(port, "/ui/");
  EXPECT_THAT(page.out, HasSubstr("<script src=\"app.js\""));
  EXPECT_THAT(page.out, HasSubstr("|200"));

  // A wrong token, then the admin token (from stdin, not the command line): a Secure cookie.
  CommandResult wrong = Curl(port, "/ui/login", {"--data-binary", R"({"token":"nope"})"});
  EXPECT_THAT(wrong.out, HasSubstr("|401"));
  CommandResult login = Curl(port, "/ui/login", {"--data-binary", "@-"},
                             std::string(R"({"token":")") + std::string(kAdminToken) + "\"}");
  // (Not printed on failure: the response holds a session.)
  EXPECT_NE(login.out.find("|200"), std::string::npos) << "login failed";
  EXPECT_NE(login.out.find("; HttpOnly; SameSite=Strict; Path=/ui; Secure\r\n"), std::string::npos)
      << "the session cookie is not Secure";

  // Plaintext to the TLS listener: the handshake fails, curl gets no HTTP answer.
  CommandResult plain = RunCommand({kCurl, "-sS", "--max-time", "10", "-w", "|%{http_code}",
                                    "http://127.0.0.1:" + port + "/health"});
  EXPECT_NE(plain.exit_code, 0) << plain.out;
  EXPECT_THAT(plain.out, Not(HasSubstr("status")));
  EXPECT_TRUE(cp.running());
  EXPECT_THAT(Curl(port, "/health").out, HasSubstr("|200"));
  EXPECT_EQ(cp.log().find(kAdminToken), std::string::npos) << "the token is in the log";
}

TEST_F(ControlPlaneHttpsTest, ServeHasTheFlagsToo) {
  ChildProcess relay;
  const std::string port =
      Start(&relay, {"serve", "--config", config_, "--listen", "127.0.0.1:0",
                     "--control-plane-listen", "none", "--control-plane-http-listen", "127.0.0.1:0",
                     "--http-tls-cert", pki_->localhost().cert_file, "--http-tls-key",
                     pki_->localhost().key_file, "--db", "none"});
  ASSERT_FALSE(port.empty());
  EXPECT_EQ(relay.LogLinesWith({"control_plane_http_listening", "tls=true"}).size(), 1u);
  EXPECT_THAT(Curl(port, "/health").out, HasSubstr("{\"status\":\"ok\"}|200"));
}

TEST_F(ControlPlaneHttpsTest, FlagAndFileErrorsStopTheStart) {
  const std::string& cert = pki_->localhost().cert_file;
  for (const std::string command : {"control-plane", "serve"}) {
    const CommandResult half = RunCommand({CCR_RELAY_BINARY, command, "--http-tls-cert", cert});
    EXPECT_EQ(half.exit_code, 2) << half.output();
    EXPECT_THAT(half.err, HasSubstr("--http-tls-cert and --http-tls-key go together"));
  }
  const std::string missing = dir_.path() + "/missing-key.pem";
  const CommandResult no_key =
      RunCommand({CCR_RELAY_BINARY, "control-plane", "--config", config_, "--listen", "127.0.0.1:0",
                  "--http-listen", "127.0.0.1:0", "--http-tls-cert", cert, "--http-tls-key",
                  missing, "--db", "none", "--no-watch"});
  EXPECT_EQ(no_key.exit_code, 1) << no_key.output();
  EXPECT_THAT(no_key.err, HasSubstr("HTTP TLS key " + missing + ": cannot read"));
  const CommandResult serve_no_key =
      RunCommand({CCR_RELAY_BINARY, "serve", "--config", config_, "--listen", "127.0.0.1:0",
                  "--control-plane-listen", "none", "--control-plane-http-listen", "127.0.0.1:0",
                  "--http-tls-cert", cert, "--http-tls-key", missing, "--db", "none"});
  EXPECT_EQ(serve_no_key.exit_code, 1) << serve_no_key.output();
  EXPECT_THAT(serve_no_key.err, HasSubstr(missing));
  EXPECT_THAT(serve_no_key.err, HasSubstr("the control plane cannot start"));
}

}  // namespace
}  // namespace ccrelay::testing
