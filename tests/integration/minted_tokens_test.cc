// Minted OAuth tokens end to end, with real processes on loopback: the control plane mints a
// Google token from a service-account file at tests/fakes/fake_gcp_auth.py (which verifies the
// JWT with google-auth) and Entra ID tokens at fake_azure_auth.py; the data plane sends only the
// token to the strict fakes fake_vertex.py / fake_foundry.py, which accept exactly the tokens
// those endpoints issued. Refresh under a running stream, a refresh that keeps failing, a data
// plane cut off from its control plane serving until its token's expiry (less the margin), what
// a data plane's snapshot and memory hold (the token, never the private key or client secret),
// Azure's three ways in, and a beta table with a hot-reloaded override.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "proto/stream.grpc.pb.h"

#include "dataplane/common/secret.h"
#include "grpcpp/grpcpp.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_azure_auth.h"
#include "tests/fakes/fake_foundry_process.h"
#include "tests/fakes/fake_gcp_auth.h"
#include "tests/fakes/fake_vertex_process.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/python_fake.h"
#include "tests/fakes/relay_fixture.h"
#include "tests/fakes/temp_dir.h"
#include "tests/fakes/test_rsa_key.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;
namespace v1 = ccrelay::v1;

constexpr char kEmail[] = "relay@fake-project.iam.gserviceaccount.com";
constexpr char kKeyId[] = "5c1e0f2d3b4a59687766554433221100ffeeddcc";
constexpr char kTenant[] = "0d4f2a51-7c1e-4b8a-9f3d-2e6b8c1a5f70";
constexpr char kSecretApp[] = "11111111-aaaa-4bbb-8ccc-000000000001";
constexpr char kClientSecret[] = "Qx8~minted.tokens-client_secret.value";
constexpr char kFoundryKey[] = "foundry-api-key-0123456789abcdef";
constexpr char kVertexModel[] = "claude-sonnet-4-5@20250929";
constexpr char kDeployment[] = "claude-sonnet-4-5";

int64_t NowUnixMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Quote(const std::string& s) { return nlohmann::json(s).dump(); }

GcpServiceAccount Account() {
  return GcpServiceAccount{kEmail, kKeyId, SharedTestRsaKey(0).public_pem};
}

// Lines of the private key's base64 body (no BEGIN/END lines): what must never leave the
// control plane.
std::vector<std::string> PrivateKeyBodyLines() {
  std::vector<std::string> lines;
  std::istringstream in(SharedTestRsaKey(0).private_pem);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.find("-----") == std::string::npos) {
      lines.push_back(line);
    }
  }
  return lines;
}

// A few full 64-character lines from the middle of the body: long enough that a match is no
// accident.
std::vector<std::string> PrivateKeyNeedles() {
  const std::vector<std::string> lines = PrivateKeyBodyLines();
  std::vector<std::string> out;
  for (size_t i = 3; i < lines.size() && out.size() < 4; i += 5) {
    if (lines[i].size() == 64) {
      out.push_back(lines[i]);
    }
  }
  return out;
}

// The events of an SSE body, and the text its text deltas carry.
std::string StreamedText(const std::string& sse) {
  SseSplitter splitter;
  std::string text;
  for (const std::string& event : splitter.Feed(sse)) {
    if (SseEventName(event) != "content_block_delta") {
      continue;
    }
    const nlohmann::json data = ParseJson(SseEventData(event));
    if (data.is_object() && data["delta"].value("type", "") == "text_delta") {
      text += data["delta"].value("text", "");
    }
  }
  return text;
}

// A streamed /v1/messages body whose answer is `text` (fake_vertex.py's "SAY <text>"): one
// text delta per 6 characters.
std::string SayBody(const std::string& text, bool stream) {
  nlohmann::json body = {{"model", "claude-test-1"},
                         {"max_tokens", 1024},
                         {"messages", {{{"role", "user"}, {"content", "SAY " + text}}}}};
  if (stream) {
    body["stream"] = true;
  }
  return body.dump();
}

// The value after `name=` in a log line ("" if absent).
std::string LogField(const std::string& line, const std::string& name) {
  const std::string needle = " " + name + "=";
  const size_t at = line.find(needle);
  if (at == std::string::npos) {
    return "";
  }
  const size_t begin = at + needle.size();
  return line.substr(begin, line.find_first_of(" \n", begin) - begin);
}

// Which of `needles` occur in the readable memory of process `pid` (/proc/<pid>/maps and
// /proc/<pid>/mem). nullopt, with *why, when that memory cannot be read.
std::optional<std::vector<bool>> FindInProcessMemory(pid_t pid,
                                                     const std::vector<std::string>& needles,
                                                     std::string* why) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream maps(proc + "/maps");
  const int fd = ::open((proc + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (!maps || fd < 0) {
    *why = proc + "/mem: " + std::strerror(errno);
    return std::nullopt;
  }
  size_t overlap = 0;
  for (const std::string& n : needles) {
    overlap = std::max(overlap, n.size());
  }
  std::vector<bool> found(needles.size(), false);
  constexpr size_t kChunk = 1 << 20;
  std::string buffer;
  size_t bytes_read = 0;
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long long start = 0;
    unsigned long long end = 0;
    char perms[8] = {};
    if (std::sscanf(line.c_str(), "%llx-%llx %7s", &start, &end, perms) != 3 || perms[0] != 'r' ||
        line.find("[vvar") != std::string::npos || line.find("[vsyscall]") != std::string::npos) {
      continue;
    }
    buffer.clear();  // no match across regions
    for (unsigned long long at = start; at < end;) {
      const size_t want = static_cast<size_t>(std::min<unsigned long long>(kChunk, end - at));
      const size_t kept = buffer.size();
      buffer.resize(kept + want);
      const ssize_t n = ::pread(fd, buffer.data() + kept, want, static_cast<off_t>(at));
      if (n <= 0) {
        buffer.resize(kept);
        break;  // an unreadable part of the region (guard pages and the like)
      }
      buffer.resize(kept + static_cast<size_t>(n));
      bytes_read += static_cast<size_t>(n);
      for (size_t i = 0; i < needles.size(); ++i) {
        if (!found[i] && buffer.find(needles[i]) != std::string::npos) {
          found[i] = true;
        }
      }
      at += static_cast<unsigned long long>(n);
      if (buffer.size() > overlap) {
        buffer.erase(0, buffer.size() - overlap);  // a needle may straddle two chunks
      }
    }
  }
  ::close(fd);
  if (bytes_read == 0) {
    *why = proc + "/mem: nothing readable";
    return std::nullopt;
  }
  return found;
}

// The snapshot the control plane at `address` sends to a data plane that says hello as `id`:
// what a sidecar data plane receives, read here with the data plane's own protocol.
std::optional<v1::RoutingSnapshot> SubscribeOnce(const std::string& address, const std::string& id,
                                                 std::string* error) {
  auto stub =
      v1::DataPlaneSync::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + seconds(10));
  auto stream = stub->Sync(&ctx);
  v1::DataPlaneMessage hello;
  hello.mutable_hello()->set_id(id);
  hello.mutable_hello()->set_build_version("minted-tokens-test");
  v1::ControlPlaneMessage message;
  std::optional<v1::RoutingSnapshot> out;
  if (!stream->Write(hello)) {
    *error = "could not send the hello";
  } else if (!stream->Read(&message) || !message.has_snapshot()) {
    *error = "no snapshot came";
  } else {
    out = message.snapshot().snapshot();
  }
  ctx.TryCancel();
  stream->Finish();
  return out;
}

const v1::Provider* FindProvider(const v1::RoutingSnapshot& s, const std::string& name) {
  for (const v1::Provider& p : s.providers()) {
    if (p.name() == name) {
      return &p;
    }
  }
  return nullptr;
}

// Polls `cond` every 100 ms until it holds or `timeout` passes.
bool PollUntil(const std::function<bool()>& cond, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!cond()) {
    if (Clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  return true;
}

// What the credential chains of every relay process here see of the environment: nothing of
// this machine's Google or Azure setup.
std::vector<std::pair<std::string, std::string>> IsolatedEnvironment(const std::string& home) {
  std::vector<std::pair<std::string, std::string>> env = {{"HOME", home},
                                                          {"CLOUDSDK_CONFIG", home + "/gcloud"}};
  for (const char* name :
       {"GOOGLE_APPLICATION_CREDENTIALS", "GCE_METADATA_HOST", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
        "AZURE_CLIENT_CERTIFICATE_PATH", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"}) {
    env.emplace_back(name, "");
  }
  return env;
}

class MintedTokensTest : public RelayTest {
 protected:
  void TearDown() override {
    if (data_plane_ != nullptr && data_plane_->running()) {
      EXPECT_EQ(data_plane_->Stop(milliseconds(10000)), std::optional<int>(0))
          << "the data plane did not exit cleanly on SIGTERM";
    }
    if (control_plane_ != nullptr && control_plane_->running()) {
      EXPECT_EQ(control_plane_->Stop(milliseconds(10000)), std::optional<int>(0))
          << "the control plane did not exit cleanly on SIGTERM";
    }
    if (HasFailure()) {
      for (const auto& [name, proc] :
           {std::pair<const char*, ChildProcess*>{"control plane", control_plane_.get()},
            {"data plane", data_plane_.get()}}) {
        if (proc != nullptr) {
          std::string log = proc->log();
          if (log.size() > 12000) {
            log = "...\n" + log.substr(log.size() - 12000);
          }
          std::fprintf(stderr, "---- %s ----\n%s---- end of %s ----\n", name, log.c_str(), name);
        }
      }
    }
    RelayTest::TearDown();
  }

  // fake_gcp_auth.py (with `gcp_args`) in gcp_, a fake Vertex endpoint that accepts exactly the
  // tokens it issued (with `vertex_args`) in vertex_, and a config with a keyless Vertex
  // provider on them.
  RelayConfig KeylessVertexSetup(std::vector<std::string> gcp_args = {},
                                 std::vector<std::string> vertex_args = {}) {
    gcp_ = std::make_unique<FakeGcpAuth>(std::vector<GcpServiceAccount>{Account()},
                                         std::vector<GcpAuthorizedUser>{}, std::move(gcp_args));
    EXPECT_TRUE(gcp_->ok()) << gcp_->log();
    FakeVertexOptions o;
    o.tokens_files = {gcp_->tokens_file()};
    o.extra_args = std::move(vertex_args);
    vertex_ = std::make_unique<FakeVertex>(o);
    EXPECT_TRUE(vertex_->ok()) << vertex_->log();
    RelayConfig config;
    config.providers = {KeylessVertex(*vertex_, *gcp_)};
    return config;
  }

  // A Vertex provider without keys: the control plane mints its tokens with the service-account
  // file at `gcp`'s token endpoint.
  ProviderSpec KeylessVertex(const FakeVertex& vertex, const FakeGcpAuth& gcp) {
    if (sa_file_.empty()) {
      sa_file_ = files_.WriteFile(
          "sa.json", ServiceAccountFileJson(Account(), SharedTestRsaKey(0).private_pem));
    }
    ProviderSpec p;
    p.name = "vertex";
    p.type = "vertex";
    p.base_url = vertex.base_url();
    p.model_mapping = {{"claude-test-1", kVertexModel}};
    p.extra_yaml = "    gcp_project_id: " + vertex.project() +
                   "\n    gcp_region: " + vertex.region() +
                   "\n    gcp_credentials_file: " + Quote(sa_file_) +
                   "\n    gcp_token_endpoint: " + Quote(gcp.token_endpoint()) + "\n";
    return p;
  }

  // An Azure provider on `foundry` serving `model` as the one deployment: `auth_yaml` holds
  // its azure_* lines, `keys` its API keys.
  static ProviderSpec AzureProvider(std::string name, const FakeFoundry& foundry,
                                    const std::string& model, std::string auth_yaml,
                                    std::vector<std::string> keys = {}) {
    ProviderSpec p;
    p.name = std::move(name);
    p.type = "azure";
    p.base_url = foundry.base_url();
    p.models = {model};
    p.model_mapping = {{model, kDeployment}};
    p.extra_yaml = std::move(auth_yaml);
    for (std::string& k : keys) {
      p.keys.push_back(KeySpec{.key = std::move(k)});
    }
    return p;
  }

  static std::string ClientSecretYaml(const FakeAzureAuth& azure) {
    return std::string("    azure_auth: client_secret\n    azure_tenant_id: ") + kTenant +
           "\n    azure_client_id: " + kSecretApp +
           "\n    azure_client_secret: " + Quote(kClientSecret) +
           "\n    azure_authority_host: " + Quote(azure.url()) + "\n";
  }

  // `cc-relay serve` with the chains isolated from this machine.
  void Start(const RelayConfig& config) {
    relay_ = std::make_unique<RelayProcess>();
    for (const auto& [name, value] : IsolatedEnvironment(files_.path() + "/home")) {
      relay_->SetEnv(name, value);
    }
    const std::string yaml = config.ToYaml();
    ASSERT_TRUE(relay_->Start(yaml)) << relay_->error() << "\n" << yaml << "\n" << relay_->log();
  }

  // The serve process's control plane (gRPC), for cc-relayctl.
  std::string ControlPlaneAddress() {
    if (control_plane_ != nullptr) {
      return control_plane_address_;
    }
    const std::string needle = "control_plane_listening address=";
    EXPECT_TRUE(relay().WaitForLog(needle, milliseconds(2000)));
    const std::string log = relay().log();
    const size_t at = log.find(needle) + needle.size();
    return log.substr(at, log.find_first_of(" \n", at) - at);
  }

  CommandResult Ctl(std::vector<std::string> args) {
    std::vector<std::string> full = {CCR_RELAYCTL_BINARY, "--control-plane", ControlPlaneAddress()};
    full.insert(full.end(), args.begin(), args.end());
    return RunCommand(full);
  }

  // `cc-relayctl providers get NAME --output json`.
  nlohmann::json CtlProvider(const std::string& name) {
    const CommandResult r = Ctl({"--output", "json", "providers", "get", name});
    EXPECT_EQ(r.exit_code, 0) << r.output();
    return ParseJson(r.out);
  }

  // Polls `cc-relayctl providers get` until the provider's health is `health` (15 s at most);
  // returns the last answer.
  nlohmann::json WaitForHealth(const std::string& provider, const std::string& health) {
    nlohmann::json info;
    PollUntil(
        [&] {
          info = CtlProvider(provider);
          return info.value("health", "") == health;
        },
        seconds(15));
    return info;
  }

  // Split planes: `cc-relay control-plane` on the config, then `cc-relay data-plane` fed by it.
  void StartControlPlane(const RelayConfig& config) {
    config_path_ = files_.WriteFile("config.yaml", config.ToYaml());
    control_plane_ = std::make_unique<ChildProcess>();
    ASSERT_TRUE(control_plane_->Start(
        {CCR_RELAY_BINARY, "control-plane", "--config", config_path_, "--listen", "127.0.0.1:0",
         "--http-listen", "none", "--log-level", "debug"},
        IsolatedEnvironment(files_.path() + "/home")))
        << control_plane_->error();
    const auto port =
        control_plane_->WaitForValue("control_plane_listening address=127.0.0.1:", seconds(10));
    ASSERT_TRUE(port.has_value()) << "the control plane did not start:\n" << control_plane_->log();
    control_plane_address_ = "127.0.0.1:" + *port;
  }

  void StartDataPlane() {
    data_plane_ = std::make_unique<ChildProcess>();
    ASSERT_TRUE(data_plane_->Start(
        {CCR_RELAY_BINARY, "data-plane", "--control-plane", control_plane_address_, "--listen",
         "127.0.0.1:0", "--admin-listen", "none", "--id", "dp-minted", "--log-level", "debug"},
        {{"HOME", files_.path() + "/home"}}))
        << data_plane_->error();
    const auto port = data_plane_->WaitForValue(" listening address=127.0.0.1:", seconds(10));
    ASSERT_TRUE(port.has_value()) << "the data plane did not start:\n" << data_plane_->log();
    data_plane_port_ = static_cast<uint16_t>(std::stoi(*port));
    ASSERT_TRUE(data_plane_->WaitForLog("snapshot_applied version=", seconds(10)))
        << "no snapshot:\n"
        << data_plane_->log();
  }

  HttpResponse PostToDataPlane(const std::string& body) {
    return Fetch(data_plane_port_, "POST", "/v1/messages", ClientHeaders(), body);
  }

  // Nothing secret in `text`: no private key line, no client secret, none of `tokens`.
  static void ExpectNoSecretIn(const std::string& what, const std::string& text,
                               const std::vector<std::string>& tokens = {}) {
    for (const std::string& line : PrivateKeyBodyLines()) {
      EXPECT_THAT(text, Not(HasSubstr(line))) << what << " holds the private key";
    }
    EXPECT_THAT(text, Not(HasSubstr("PRIVATE KEY"))) << what;
    EXPECT_THAT(text, Not(HasSubstr(kClientSecret))) << what << " holds the client secret";
    for (const std::string& token : tokens) {
      EXPECT_THAT(text, Not(HasSubstr(token))) << what << " holds a token";
    }
  }

  // Every token `gcp` issued, by value.
  static std::vector<std::string> IssuedTokens(const FakeGcpAuth& gcp) {
    std::vector<std::string> out;
    for (const nlohmann::json& t : gcp.IssuedTokens()) {
      out.push_back(t.value("token", ""));
    }
    return out;
  }

  TempDir files_;
  std::unique_ptr<FakeGcpAuth> gcp_;
  std::unique_ptr<FakeVertex> vertex_;
  std::string sa_file_;
  std::string config_path_;
  std::unique_ptr<ChildProcess> control_plane_;
  std::string control_plane_address_;
  std::unique_ptr<ChildProcess> data_plane_;
  uint16_t data_plane_port_ = 0;
};

TEST_F(MintedTokensTest, VertexServiceAccountTokenServesJsonAndStreams) {
  ASSERT_NO_FATAL_FAILURE(Start(KeylessVertexSetup()));
  FakeGcpAuth* gcp = gcp_.get();
  FakeVertex& vertex = *vertex_;

  const HttpResponse json = Post("/v1/messages", MessageBody());
  ASSERT_EQ(json.status, 200) << json.body;
  EXPECT_EQ(ParseJson(json.body)["content"][0].value("text", ""), "Hello from fake Vertex.");
  const HttpResponse stream = Post("/v1/messages", SayBody("streamed through the relay", true));
  ASSERT_EQ(stream.status, 200) << stream.body;
  EXPECT_TRUE(stream.complete);
  EXPECT_EQ(StreamedText(stream.body), "streamed through the relay");
  EXPECT_THAT(stream.body, HasSubstr("event: message_stop"));

  // One token, minted with a JWT the fake verified, and both requests carried it.
  const nlohmann::json issued = gcp->IssuedTokens();
  ASSERT_EQ(issued.size(), 1u) << issued.dump();
  const std::string fingerprint = issued[0].value("fingerprint", "");
  const auto grants = gcp->Requests();
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0]["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
  EXPECT_EQ(grants[0]["verified"], true);
  EXPECT_EQ(grants[0]["iss"], kEmail);
  const auto requests = vertex.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0]["operation"], "rawPredict");
  EXPECT_EQ(requests[1]["operation"], "streamRawPredict");
  for (const nlohmann::json& r : requests) {
    EXPECT_EQ(r["auth"]["kind"], "bearer") << r.dump();
    EXPECT_EQ(r["auth"]["verdict"], "ok") << r.dump();
    EXPECT_EQ(r["token_fingerprint"], fingerprint) << r.dump();
    EXPECT_EQ(r["status"], 200) << r.dump();
    EXPECT_EQ(r["model"], kVertexModel);
  }
  EXPECT_EQ(requests[1]["stream"]["outcome"], "complete");
  EXPECT_EQ(json.Header("x-cc-relay-key"), fingerprint);

  // The control plane says where the token came from, by fingerprint only.
  const nlohmann::json info = CtlProvider("vertex");
  EXPECT_EQ(info.value("health", ""), "healthy") << info.dump();
  EXPECT_THAT(info.value("credentials", ""),
              HasSubstr(std::string("service account ") + kEmail + ", token " + fingerprint))
      << info.dump();
  EXPECT_TRUE(relay().WaitForLog("google_token_refreshed provider=vertex", seconds(1)));
  ExpectNoSecretIn("the relay's log", relay().log(), IssuedTokens(*gcp));
  ExpectNoSecretIn("cc-relayctl's output", info.dump(), IssuedTokens(*gcp));
}

TEST_F(MintedTokensTest, AStreamRunsAcrossARefreshAndTheNextRequestUsesTheNewToken) {
  // Tokens that live 24 s: the control plane renews them at half their life (12 s), while the
  // data plane may use one until 10 s before its expiry (14 s): they overlap.
  RelayConfig config = KeylessVertexSetup({"--expires-in", "24"}, {"--frame-delay-ms", "300"});
  config.timeouts.total_ms = 30000;
  ASSERT_NO_FATAL_FAILURE(Start(config));
  FakeGcpAuth* gcp = gcp_.get();
  FakeVertex& vertex = *vertex_;

  const std::vector<std::string> refreshed = {"google_token_refreshed provider=vertex"};
  ASSERT_TRUE(relay().WaitForLogLines(refreshed, 1, seconds(2))) << relay().log();
  const std::string first_line = relay().LogLinesWith(refreshed).at(0);
  const std::string first_fp = LogField(first_line, "key");
  const int64_t next_refresh_ms = std::stoll(LogField(first_line, "next_refresh_ms"));
  ASSERT_GE(next_refresh_ms, 6000) << first_line;
  ASSERT_LE(next_refresh_ms, 13000) << first_line;

  // A slow stream (about 21 events, 300 ms apart: 6 s) started about 3 s before the refresh,
  // which is due next_refresh_ms after the first token was minted (its expiry less 24 s).
  const std::string text =
      "a slow stream that runs while the control plane mints the next token, and ends intact!";
  const nlohmann::json first_token = gcp->IssuedTokens().at(0);
  const int64_t minted_ms =
      static_cast<int64_t>(first_token["expires_unix"].get<double>() * 1000) - 24000;
  std::this_thread::sleep_for(milliseconds(minted_ms + next_refresh_ms - 3000 - NowUnixMs()));
  std::atomic<bool> first_bytes{false};
  std::atomic<bool> finished{false};
  HttpResponse stream;
  std::thread client([&] {
    std::unique_ptr<HttpConnection> conn = HttpConnection::Connect(port());
    if (conn == nullptr ||
        !conn->Send(BuildRequest("POST", "/v1/messages", ClientHeaders(), SayBody(text, true)))) {
      stream.error = "could not send";
    } else {
      stream = conn->ReadResponse(seconds(30), [&](std::string_view) {
        first_bytes = true;
        return true;
      });
    }
    first_bytes = true;
    finished = true;
  });
  ASSERT_TRUE(PollUntil([&] { return first_bytes.load(); }, seconds(10)));
  EXPECT_EQ(relay().LogLinesWith(refreshed).size(), 1u) << "the stream began after the refresh";
  ASSERT_TRUE(relay().WaitForLogLines(refreshed, 2, seconds(15))) << relay().log();
  EXPECT_FALSE(finished.load()) << "the stream ended before the refresh: it did not run across it";
  client.join();

  ASSERT_EQ(stream.status, 200) << stream.error << stream.body;
  EXPECT_TRUE(stream.complete) << stream.error;
  EXPECT_EQ(StreamedText(stream.body), text);
  EXPECT_THAT(stream.body, HasSubstr("event: message_stop"));
  const nlohmann::json streamed = vertex.LastRequest();
  EXPECT_EQ(streamed["stream"]["outcome"], "complete") << streamed.dump();
  EXPECT_EQ(streamed["token_fingerprint"], first_fp) << "the stream began with the first token";

  // The next request carries the new token.
  const std::string second_fp = LogField(relay().LogLinesWith(refreshed).at(1), "key");
  EXPECT_NE(second_fp, first_fp);
  const HttpResponse next = Post("/v1/messages", MessageBody());
  ASSERT_EQ(next.status, 200) << next.body;
  const nlohmann::json last = vertex.LastRequest();
  EXPECT_EQ(last["token_fingerprint"], second_fp) << last.dump();
  EXPECT_EQ(last["auth"]["verdict"], "ok");
  EXPECT_EQ(gcp->IssuedTokens().size(), 2u);
  ExpectNoSecretIn("the relay's log", relay().log(), IssuedTokens(*gcp));
}

TEST_F(MintedTokensTest, ARefreshThatKeepsFailingMakesTheProviderUnhealthyWithTheReason) {
  // Tokens that live 18 s: usable by the data plane for 8 s, renewed at 9 s, gone at 18 s.
  ASSERT_NO_FATAL_FAILURE(Start(KeylessVertexSetup({"--expires-in", "18"})));
  FakeGcpAuth* gcp = gcp_.get();
  FakeVertex& vertex = *vertex_;
  const HttpResponse ok = Post("/v1/messages", MessageBody());
  ASSERT_EQ(ok.status, 200) << ok.body;

  // From now on the token endpoint answers 503.
  ASSERT_TRUE(gcp->FailNext("status=503&n=1000&route=token"));
  nlohmann::json info = WaitForHealth("vertex", "degraded");
  ASSERT_EQ(info.value("health", ""), "degraded") << info.dump();
  EXPECT_THAT(info.value("credentials", ""), HasSubstr("refresh failing since ")) << info.dump();
  EXPECT_THAT(info.value("credentials", ""), HasSubstr("answered HTTP 503")) << info.dump();

  // The token expires: no credential, the provider is unhealthy, and says why.
  info = WaitForHealth("vertex", "unhealthy");
  ASSERT_EQ(info.value("health", ""), "unhealthy") << info.dump();
  const std::string credentials = info.value("credentials", "");
  EXPECT_THAT(credentials, HasSubstr("none: Google credentials from gcp_credentials_file"));
  EXPECT_THAT(credentials,
              HasSubstr("token endpoint " + gcp->token_endpoint() + " answered HTTP 503"));
  const CommandResult list = Ctl({"providers", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.output();
  EXPECT_THAT(list.out, HasSubstr("unhealthy")) << list.out;
  EXPECT_THAT(list.out, HasSubstr("credentials of vertex: none: Google credentials from"))
      << list.out;

  // The client is told which provider has no credentials, and why.
  const size_t upstream_requests = vertex.Requests().size();
  HttpResponse refused;
  ASSERT_TRUE(PollUntil(
      [&] {
        refused = Post("/v1/messages", MessageBody());
        return refused.status == 503 && refused.body.find("no credentials") != std::string::npos;
      },
      seconds(5)))
      << refused.status << " " << refused.body;
  EXPECT_TRUE(IsAnthropicError(refused.body, "api_error")) << refused.body;
  const std::string message = ParseJson(refused.body)["error"].value("message", "");
  EXPECT_THAT(message, HasSubstr("provider vertex has no credentials (no Google token: "));
  EXPECT_THAT(message, HasSubstr("answered HTTP 503"));
  EXPECT_EQ(vertex.Requests().size(), upstream_requests) << "a request went upstream";

  const std::vector<std::string> tokens = IssuedTokens(*gcp);
  ExpectNoSecretIn("the client's error", refused.body, tokens);
  ExpectNoSecretIn("cc-relayctl providers get", info.dump(), tokens);
  ExpectNoSecretIn("cc-relayctl providers list", list.output(), tokens);
  ExpectNoSecretIn("the relay's log", relay().log(), tokens);
  EXPECT_FALSE(relay().LogLinesWith({"google_token_failed", "provider=vertex"}).empty());
  EXPECT_FALSE(relay().LogLinesWith({"google_token_expired", "provider=vertex"}).empty());
}

TEST_F(MintedTokensTest, ADataPlaneCutOffFromItsControlPlaneServesUntilTheTokenExpires) {
  // Tokens that live 20 s: a data plane may use one until its margin before the expiry (a
  // quarter of the 20 s left when the snapshot came, under the 10 s cap: 5 s), then must stop by
  // itself.
  ASSERT_NO_FATAL_FAILURE(StartControlPlane(KeylessVertexSetup({"--expires-in", "20"})));
  FakeGcpAuth* gcp = gcp_.get();
  FakeVertex& vertex = *vertex_;
  ASSERT_NO_FATAL_FAILURE(StartDataPlane());
  const HttpResponse first = PostToDataPlane(MessageBody());
  ASSERT_EQ(first.status, 200) << first.body;
  const nlohmann::json issued = gcp->IssuedTokens();
  ASSERT_EQ(issued.size(), 1u);
  // The fake's expiry is at or just after the control plane's (it dates the token on receipt).
  const int64_t expiry_ms = static_cast<int64_t>(issued[0]["expires_unix"].get<double>() * 1000);
  // The margin is a quarter of what was left when the data plane compiled the snapshot, a little
  // after the fake issued the token: usable_until is up to a quarter of that delay later.
  const int64_t usable_until_ms = expiry_ms - 5000;
  constexpr int64_t kCompileSlackMs = 500;

  ASSERT_TRUE(control_plane_->Kill().has_value());
  const int64_t killed_ms = NowUnixMs();
  ASSERT_LT(killed_ms, usable_until_ms - 3000) << "too slow a start to see the data plane serve";

  int64_t last_ok_sent_ms = 0;
  int ok_after_kill = 0;
  HttpResponse refused;
  int64_t refused_ms = 0;
  const auto deadline = Clock::now() + seconds(20);
  while (Clock::now() < deadline) {
    const int64_t sent_ms = NowUnixMs();
    HttpResponse r = PostToDataPlane(MessageBody());
    if (r.status == 200) {
      last_ok_sent_ms = sent_ms;
      ++ok_after_kill;
    } else {
      refused = std::move(r);
      refused_ms = NowUnixMs();
      break;
    }
    std::this_thread::sleep_for(milliseconds(250));
  }
  ASSERT_NE(refused_ms, 0) << "the data plane kept using a token past its expiry";
  EXPECT_GE(ok_after_kill, 1);
  // It served with its last token until about usable_until, never after, and then stopped.
  EXPECT_LT(last_ok_sent_ms, usable_until_ms + kCompileSlackMs)
      << "a request used the token after usable_until";
  EXPECT_GE(last_ok_sent_ms, usable_until_ms - 3000) << "stopped serving long before usable_until";
  EXPECT_GE(refused_ms, usable_until_ms - 2000) << "refused long before usable_until";

  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_TRUE(IsAnthropicError(refused.body, "api_error")) << refused.body;
  const std::string message = ParseJson(refused.body)["error"].value("message", "");
  EXPECT_THAT(message, HasSubstr("provider vertex's credentials expire at "));
  EXPECT_THAT(message, HasSubstr("no new ones came from the control plane"));

  // The refusal is the data plane's own margin: Vertex still takes the token, but nothing more
  // was sent to it.
  const size_t upstream_requests = vertex.Requests().size();
  EXPECT_EQ(PostToDataPlane(MessageBody()).status, 503);
  EXPECT_EQ(vertex.Requests().size(), upstream_requests);
  const HttpResponse direct =
      Fetch(vertex.port(), "POST",
            "/v1/projects/" + vertex.project() + "/locations/" + vertex.region() +
                "/publishers/anthropic/models/" + kVertexModel + ":rawPredict",
            {{"content-type", "application/json"},
             {"authorization", "Bearer " + issued[0].value("token", "")}},
            R"({"anthropic_version":"vertex-2023-10-16","max_tokens":16,)"
            R"("messages":[{"role":"user","content":"hi"}]})");
  if (NowUnixMs() < expiry_ms - 500) {
    EXPECT_EQ(direct.status, 200) << direct.body;
  }
  ExpectNoSecretIn("the client's error", refused.body, IssuedTokens(*gcp));
  ExpectNoSecretIn("the data plane's log", data_plane_->log(), IssuedTokens(*gcp));
}

TEST_F(MintedTokensTest, ASidecarDataPlaneHoldsTheTokenButNeverThePrivateKeyOrClientSecret) {
  RelayConfig config = KeylessVertexSetup();
  FakeGcpAuth* gcp = gcp_.get();
  FakeAzureAuth azure;
  ASSERT_TRUE(azure.Start({{kTenant, kSecretApp, kClientSecret, ""}})) << azure.error();
  FakeFoundryOptions foundry_options;
  foundry_options.tokens_files = {azure.tokens_file()};
  FakeFoundry foundry(foundry_options);
  ASSERT_TRUE(foundry.ok()) << foundry.log();
  config.providers.push_back(
      AzureProvider("azure", foundry, "claude-azure-1", ClientSecretYaml(azure)));
  ASSERT_NO_FATAL_FAILURE(StartControlPlane(config));
  ASSERT_NO_FATAL_FAILURE(StartDataPlane());
  ASSERT_EQ(PostToDataPlane(MessageBody()).status, 200);
  ASSERT_EQ(PostToDataPlane(MessageBody("claude-azure-1")).status, 200);
  ASSERT_EQ(gcp->IssuedTokens().size(), 1u);
  const std::string vertex_token = gcp->IssuedTokens()[0].value("token", "");
  const nlohmann::json azure_tokens = azure.Tokens();
  ASSERT_EQ(azure_tokens.size(), 1u);
  const std::string azure_token = azure_tokens.begin().key();

  // What a data plane receives: the token, as a key of its own, and no token source.
  std::string error;
  const std::optional<v1::RoutingSnapshot> snapshot =
      SubscribeOnce(control_plane_address_, "inspector", &error);
  ASSERT_TRUE(snapshot.has_value()) << error;
  const v1::Provider* vx = FindProvider(*snapshot, "vertex");
  ASSERT_NE(vx, nullptr);
  ASSERT_EQ(vx->keys_size(), 1);
  EXPECT_EQ(vx->keys(0).id(), "vertex/minted");
  EXPECT_TRUE(vx->keys(0).oauth_token());
  EXPECT_EQ(vx->keys(0).secret(), vertex_token) << "the snapshot holds the token minted";
  EXPECT_EQ(vx->keys(0).fingerprint(), common::FingerprintOf(vertex_token));
  EXPECT_GT(vx->keys(0).expires_unix_ms(), NowUnixMs());
  EXPECT_FALSE(vx->has_token_source()) << vx->token_source().DebugString();
  const v1::Provider* az = FindProvider(*snapshot, "azure");
  ASSERT_NE(az, nullptr);
  ASSERT_EQ(az->keys_size(), 1);
  EXPECT_TRUE(az->keys(0).oauth_token());
  EXPECT_EQ(az->keys(0).secret(), azure_token);
  EXPECT_FALSE(az->has_token_source()) << "the token source (client secret) reached a data plane";
  ExpectNoSecretIn("the snapshot", snapshot->SerializeAsString());

  // The data plane process's memory: the token (the scan works there), never the private key
  // nor the client secret. The control plane's memory has both (the scan finds them).
  std::vector<std::string> needles = PrivateKeyNeedles();
  ASSERT_FALSE(needles.empty());
  const size_t key_needles = needles.size();
  needles.push_back(kClientSecret);
  needles.push_back(vertex_token);
  const std::optional<std::vector<bool>> dp_found =
      FindInProcessMemory(data_plane_->pid(), needles, &error);
  if (!dp_found.has_value()) {
    GTEST_SKIP() << "cannot read another process's memory here (" << error
                 << "): run as root, or with ptrace permitted, to check what a data plane holds";
  }
  for (size_t i = 0; i < key_needles; ++i) {
    EXPECT_FALSE((*dp_found)[i]) << "the data plane's memory holds line " << i
                                 << " of the service account's private key";
  }
  EXPECT_FALSE((*dp_found)[key_needles]) << "the data plane's memory holds the client secret";
  EXPECT_TRUE((*dp_found)[key_needles + 1])
      << "the scan did not find the token the data plane uses: the scan is broken";

  const std::optional<std::vector<bool>> cp_found =
      FindInProcessMemory(control_plane_->pid(), needles, &error);
  ASSERT_TRUE(cp_found.has_value()) << error;
  bool cp_has_key = false;
  for (size_t i = 0; i < key_needles; ++i) {
    cp_has_key = cp_has_key || (*cp_found)[i];
  }
  EXPECT_TRUE(cp_has_key) << "the scan did not find the private key in the control plane";
  EXPECT_TRUE((*cp_found)[key_needles]) << "the scan did not find the client secret in the "
                                           "control plane";
  ExpectNoSecretIn("the data plane's log", data_plane_->log(), {vertex_token, azure_token});
}

TEST_F(MintedTokensTest, AzureApiKeyClientSecretAndManagedIdentity) {
  FakeAzureAuth azure;
  ASSERT_TRUE(azure.Start({{kTenant, kSecretApp, kClientSecret, ""}}, {true, {}})) << azure.error();
  FakeFoundryOptions foundry_options;
  foundry_options.tokens_files = {azure.tokens_file()};
  foundry_options.api_keys = {kFoundryKey};
  FakeFoundry foundry(foundry_options);
  ASSERT_TRUE(foundry.ok()) << foundry.log();
  RelayConfig config;
  config.providers = {
      AzureProvider("az-key", foundry, "claude-az-key", "", {kFoundryKey}),
      AzureProvider("az-secret", foundry, "claude-az-secret", ClientSecretYaml(azure)),
      AzureProvider("az-mi", foundry, "claude-az-mi",
                    "    azure_auth: managed_identity\n    azure_imds_endpoint: " +
                        Quote(azure.url()) + "\n")};
  ASSERT_NO_FATAL_FAILURE(Start(config));

  // The token the fake Entra ID / IMDS issued for each grant, by fingerprint.
  std::map<std::string, std::string> token_fp;
  std::vector<std::string> tokens;
  const nlohmann::json issued = azure.Tokens();
  for (const auto& [token, entry] : issued.items()) {
    token_fp[entry.value("grant", "")] = common::FingerprintOf(token);
    tokens.push_back(token);
  }
  ASSERT_EQ(token_fp.size(), 2u) << issued.dump();

  struct Case {
    std::string model, provider;
  };
  for (const Case& c : {Case{"claude-az-key", "az-key"}, Case{"claude-az-secret", "az-secret"},
                        Case{"claude-az-mi", "az-mi"}}) {
    SCOPED_TRACE(c.provider);
    const HttpResponse r = Post("/v1/messages", MessageBody(c.model));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("x-cc-relay-provider"), c.provider);
  }
  const auto requests = foundry.Requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const nlohmann::json& r : requests) {
    EXPECT_EQ(r["status"], 200) << r.dump();
    EXPECT_EQ(r["model"], kDeployment);
    EXPECT_EQ(r["path"], "/anthropic/v1/messages");
  }
  // The API key as api-key and x-api-key, no bearer.
  const std::string key_fp = "fp:" + common::FingerprintOf(kFoundryKey);
  EXPECT_EQ(requests[0]["auth"]["kind"], "api-key");
  EXPECT_EQ(requests[0]["headers"].value("api-key", ""), key_fp);
  EXPECT_EQ(requests[0]["headers"].value("x-api-key", ""), key_fp);
  EXPECT_FALSE(requests[0]["headers"].contains("authorization"));
  // The Entra ID tokens as Authorization: Bearer, and no key header (not even the client's).
  EXPECT_EQ(requests[1]["auth"]["kind"], "bearer");
  EXPECT_EQ(requests[1]["token_fingerprint"], token_fp["client_secret"]);
  EXPECT_EQ(requests[1]["headers"].value("authorization", ""),
            "Bearer fp:" + token_fp["client_secret"]);
  EXPECT_EQ(requests[2]["auth"]["kind"], "bearer");
  EXPECT_EQ(requests[2]["token_fingerprint"], token_fp["managed_identity"]);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(requests[i]["auth"]["verdict"], "ok") << requests[i].dump();
    EXPECT_FALSE(requests[i]["headers"].contains("api-key")) << requests[i].dump();
    EXPECT_FALSE(requests[i]["headers"].contains("x-api-key")) << requests[i].dump();
  }

  // How each token was got: the secret at the token endpoint, the managed identity at IMDS.
  const auto grants = azure.Requests();
  ASSERT_EQ(grants.size(), 2u);
  for (const nlohmann::json& g : grants) {
    if (g["route"] == "token") {
      EXPECT_EQ(g["client_secret_fingerprint"], common::FingerprintOf(kClientSecret));
      EXPECT_EQ(g["tenant"], kTenant);
    } else {
      EXPECT_EQ(g["route"], "imds") << g.dump();
      EXPECT_EQ(g["metadata"], "true");
    }
  }
  EXPECT_THAT(CtlProvider("az-mi").value("credentials", ""), HasSubstr("managed identity"));
  EXPECT_THAT(CtlProvider("az-secret").value("credentials", ""),
              HasSubstr(std::string("client secret (app ") + kSecretApp + ")"));
  const CommandResult shown = Ctl({"config", "show"});
  EXPECT_EQ(shown.exit_code, 0) << shown.output();
  ExpectNoSecretIn("cc-relayctl config show", shown.output(), tokens);
  ExpectNoSecretIn("the relay's log", relay().log(), tokens);
}

TEST_F(MintedTokensTest, VertexBetaTableAndAHotReloadedOverride) {
  constexpr char kToken[] = "ya29.static-vertex-token-for-betas";
  FakeVertexOptions options;
  options.static_tokens = {kToken};
  FakeVertex vertex(options);
  ASSERT_TRUE(vertex.ok()) << vertex.log();
  ProviderSpec p;
  p.name = "vertex";
  p.type = "vertex";
  p.base_url = vertex.base_url();
  p.keys = {KeySpec{.key = kToken}};
  p.model_mapping = {{"claude-test-1", kVertexModel}};
  p.extra_yaml =
      "    gcp_project_id: " + vertex.project() + "\n    gcp_region: " + vertex.region() + "\n";
  RelayConfig config;
  config.providers = {p};
  ASSERT_NO_FATAL_FAILURE(Start(config));

  // Vertex refuses claude-code-20250219 for the whole request.
  const std::string path = "/v1/projects/" + vertex.project() + "/locations/" + vertex.region() +
                           "/publishers/anthropic/models/" + kVertexModel + ":rawPredict";
  const HttpResponse direct = Fetch(vertex.port(), "POST", path,
                                    {{"content-type", "application/json"},
                                     {"authorization", std::string("Bearer ") + kToken},
                                     {"anthropic-beta", "claude-code-20250219"}},
                                    R"({"anthropic_version":"vertex-2023-10-16","max_tokens":16,)"
                                    R"("messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(direct.status, 400) << direct.body;
  EXPECT_THAT(direct.body, HasSubstr("claude-code-20250219"));

  // Through the relay it never gets there; interleaved thinking does, an unknown beta not.
  Headers headers = ClientHeaders();  // claude-code-20250219,interleaved-thinking-2025-05-14
  headers.emplace_back("anthropic-beta", "new-beta-2026-01-01");
  HttpResponse r = Post("/v1/messages", MessageBody(), headers);
  ASSERT_EQ(r.status, 200) << r.body;
  nlohmann::json seen = vertex.LastRequest();
  EXPECT_EQ(seen["anthropic_beta"], nlohmann::json({"interleaved-thinking-2025-05-14"}))
      << seen.dump();

  // An override, hot-reloaded: deny interleaved thinking, allow the new beta.
  config.providers[0].extra_yaml +=
      "    betas:\n      deny: [interleaved-thinking-2025-05-14]\n"
      "      allow: [new-beta-2026-01-01]\n";
  const size_t offset = relay().log().size();
  ReplaceFileAtomically(relay().config_path(), config.ToYaml());
  std::string reloaded;
  ASSERT_TRUE(PollUntil(
      [&] {
        reloaded = relay().log().substr(offset);
        return reloaded.find("config_reloaded") != std::string::npos;
      },
      seconds(5)))
      << relay().log();
  const std::string version =
      LogField(reloaded.substr(reloaded.find("config_reloaded")), "version");
  ASSERT_FALSE(version.empty()) << reloaded;
  ASSERT_TRUE(relay().WaitForLog("snapshot_applied version=" + version, seconds(5)))
      << relay().log();

  r = Post("/v1/messages", MessageBody(), headers);
  ASSERT_EQ(r.status, 200) << r.body;
  seen = vertex.LastRequest();
  EXPECT_EQ(seen["anthropic_beta"], nlohmann::json({"new-beta-2026-01-01"})) << seen.dump();
  EXPECT_EQ(vertex.Requests().size(), 3u);  // the direct one and two through the relay
}

}  // namespace
}  // namespace ccrelay::testing
