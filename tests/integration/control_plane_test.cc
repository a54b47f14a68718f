// A real ControlPlane on 127.0.0.1:0 driven by hand through raw gRPC stubs, Envoy ADS style:
// hello -> snapshot V -> ACK(V) -> config change -> V+1; NACKs recorded; invalid configs
// rejected with file:line errors; tokens; TLS; a rotation persisting across a restart.
#include "controlplane/control_plane.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "proto/management.grpc.pb.h"
#include "proto/stream.grpc.pb.h"

#include "dataplane/common/secret.h"
#include "grpcpp/grpcpp.h"
#include "tests/fakes/temp_dir.h"
#include "tests/fakes/test_ca.h"

namespace ccrelay::testing {
namespace {

using ccrelay::controlplane::ControlPlane;
using ccrelay::controlplane::ControlPlaneOptions;
using common::FingerprintOf;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;
namespace v1 = ccrelay::v1;

constexpr auto kWait = std::chrono::seconds(10);

// Polls `cond` until it holds or the deadline passes (no fixed sleeps: a short wait between
// polls of state that has no notification).
bool WaitUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout = kWait) {
  const auto deadline = Clock::now() + timeout;
  while (!cond()) {
    if (Clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A hand-driven data plane: a raw DataPlaneSync stream with a reader thread that queues every
// message from the control plane.
class FakeDataPlane {
 public:
  FakeDataPlane(const std::shared_ptr<grpc::Channel>& channel, std::string token = "")
      : stub_(v1::DataPlaneSync::NewStub(channel)) {
    if (!token.empty()) {
      ctx_.AddMetadata("authorization", "Bearer " + token);
    }
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    stream_ = stub_->Sync(&ctx_);
    reader_ = std::thread([this] {
      v1::ControlPlaneMessage m;
      while (stream_->Read(&m)) {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_back(m);
        cv_.notify_all();
      }
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      cv_.notify_all();
    });
  }
  ~FakeDataPlane() {
    ctx_.TryCancel();
    reader_.join();
  }

  bool Send(const v1::DataPlaneMessage& m) { return stream_->Write(m); }
  bool Hello(const std::string& id, uint64_t last_applied = 0) {
    v1::DataPlaneMessage m;
    m.mutable_hello()->set_id(id);
    m.mutable_hello()->set_build_version("test");
    m.mutable_hello()->set_listen_address("127.0.0.1:1");
    m.mutable_hello()->set_last_applied_version(last_applied);
    return Send(m);
  }
  bool Ack(const v1::SnapshotUpdate& u) {
    v1::DataPlaneMessage m;
    m.mutable_ack()->set_version(u.snapshot().version());
    m.mutable_ack()->set_nonce(u.nonce());
    return Send(m);
  }

  // The next snapshot from the control plane, or nullopt after `timeout`.
  std::optional<v1::SnapshotUpdate> Next(std::chrono::milliseconds timeout = kWait) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [this] { return !queue_.empty() || closed_; }) ||
        queue_.empty()) {
      return std::nullopt;
    }
    v1::ControlPlaneMessage m = queue_.front();
    queue_.pop_front();
    return m.snapshot();
  }
  // Waits until the stream ends; returns its status.
  grpc::Status Finish() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, kWait, [this] { return closed_; });
    lock.unlock();
    return stream_->Finish();
  }

 private:
  std::unique_ptr<v1::DataPlaneSync::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::DataPlaneMessage, v1::ControlPlaneMessage>> stream_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::ControlPlaneMessage> queue_;
  bool closed_ = false;
};

const v1::Provider* FindProvider(const v1::RoutingSnapshot& s, const std::string& name) {
  for (const auto& p : s.providers()) {
    if (p.name() == name) {
      return &p;
    }
  }
  return nullptr;
}

std::vector<std::string> KeyFps(const v1::RoutingSnapshot& s, const std::string& provider) {
  std::vector<std::string> out;
  if (const v1::Provider* p = FindProvider(s, provider); p != nullptr) {
    for (const auto& k : p->keys()) {
      out.push_back(k.fingerprint());
    }
  }
  return out;
}

// No base_url: the providers point at api.anthropic.com, so the active health checks are off
// (tests send nothing beyond loopback).
constexpr std::string_view kConfig = R"(health:
  checks:
    interval_ms: 0
providers:
  - name: anthropic
    type: anthropic
    keys:
      - key: sk-config-a
        rpm_limit: 10
  - name: backup
    type: anthropic
)";

class ControlPlaneTest : public ::testing::Test {
 protected:
  ControlPlaneTest() { config_ = dir_.WriteFile("config.yaml", kConfig); }

  ControlPlaneOptions Options() const {
    ControlPlaneOptions o;
    o.config_path = config_;
    o.listen = "127.0.0.1:0";
    return o;
  }

  void Start(const ControlPlaneOptions& o) {
    auto cp = ControlPlane::Start(o);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = *std::move(cp);
  }

  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(cp_->listen_address(), grpc::InsecureChannelCredentials());
  }

  // Replaces the config the way editors and `kubectl` do: a new file renamed over the old one.
  void SaveConfigAtomically(std::string_view text) {
    const std::string tmp = dir_.WriteFile("config.yaml.tmp", text);
    std::filesystem::rename(tmp, config_);
  }

  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) {
      ctx->AddMetadata("authorization", "Bearer " + token);
    }
    return ctx;
  }

  v1::DataPlaneInfo DataPlane(v1::Management::Stub& m, const std::string& id) {
    v1::ListDataPlanesResponse resp;
    auto ctx = Ctx();
    EXPECT_TRUE(m.ListDataPlanes(ctx.get(), {}, &resp).ok());
    for (const auto& dp : resp.data_planes()) {
      if (dp.id() == id) {
        return dp;
      }
    }
    return v1::DataPlaneInfo();
  }

  TempDir dir_;
  std::string config_;
  std::unique_ptr<ControlPlane> cp_;
};

TEST_F(ControlPlaneTest, HelloSnapshotAckThenConfigChangeArrivesWithinASecond) {
  Start(Options());
  FakeDataPlane dp(Channel());
  ASSERT_TRUE(dp.Hello("dp-1"));
  std::optional<v1::SnapshotUpdate> first = dp.Next();
  ASSERT_TRUE(first.has_value());
  const uint64_t v = first->snapshot().version();
  EXPECT_GE(v, 1u);
  EXPECT_FALSE(first->nonce().empty());
  ASSERT_NE(FindProvider(first->snapshot(), "anthropic"), nullptr);
  EXPECT_EQ(FindProvider(first->snapshot(), "anthropic")->keys(0).secret(), "sk-config-a");
  ASSERT_TRUE(dp.Ack(*first));

  auto mgmt = v1::Management::NewStub(Channel());
  ASSERT_TRUE(WaitUntil([&] { return DataPlane(*mgmt, "dp-1").acked_version() == v; }));
  const v1::DataPlaneInfo info = DataPlane(*mgmt, "dp-1");
  EXPECT_TRUE(info.connected());
  EXPECT_EQ(info.build_version(), "test");
  EXPECT_GT(info.last_contact_unix_ms(), 0);

  std::string edited(kConfig);
  edited.replace(edited.find("rpm_limit: 10"), 13, "rpm_limit: 77");
  const auto saved = Clock::now();
  SaveConfigAtomically(edited);
  std::optional<v1::SnapshotUpdate> next = dp.Next(std::chrono::milliseconds(1000));
  ASSERT_TRUE(next.has_value()) << "no new version within 1 s of the save";
  EXPECT_LT(Clock::now() - saved, std::chrono::milliseconds(1000));
  EXPECT_EQ(next->snapshot().version(), v + 1);
  EXPECT_NE(next->nonce(), first->nonce());
  EXPECT_EQ(FindProvider(next->snapshot(), "anthropic")->keys(0).rpm_limit(), 77u);
  // Key ids survive the reload (the data plane keys its state by them).
  EXPECT_EQ(FindProvider(next->snapshot(), "anthropic")->keys(0).id(),
            FindProvider(first->snapshot(), "anthropic")->keys(0).id());
}

TEST_F(ControlPlaneTest, NackIsRecordedWithItsError) {
  Start(Options());
  FakeDataPlane dp(Channel());
  ASSERT_TRUE(dp.Hello("dp-nack"));
  std::optional<v1::SnapshotUpdate> first = dp.Next();
  ASSERT_TRUE(first.has_value());
  v1::DataPlaneMessage nack;
  nack.mutable_nack()->set_rejected_version(first->snapshot().version());
  nack.mutable_nack()->set_last_good_version(0);
  nack.mutable_nack()->set_nonce(first->nonce());
  nack.mutable_nack()->set_error_detail("provider anthropic: cannot load CA");
  ASSERT_TRUE(dp.Send(nack));

  auto mgmt = v1::Management::NewStub(Channel());
  ASSERT_TRUE(WaitUntil(
      [&] { return DataPlane(*mgmt, "dp-nack").nacked_version() == first->snapshot().version(); }));
  const v1::DataPlaneInfo info = DataPlane(*mgmt, "dp-nack");
  EXPECT_EQ(info.nack_error(), "provider anthropic: cannot load CA");
  EXPECT_EQ(info.acked_version(), 0u);

  // A later ACK of a newer version clears it.
  auto ctx = Ctx();
  v1::SetProviderEnabledRequest req;
  req.set_name("backup");
  req.set_enabled(false);
  v1::ProviderInfo resp;
  ASSERT_TRUE(mgmt->SetProviderEnabled(ctx.get(), req, &resp).ok());
  std::optional<v1::SnapshotUpdate> second = dp.Next();
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(dp.Ack(*second));
  ASSERT_TRUE(WaitUntil(
      [&] { return DataPlane(*mgmt, "dp-nack").acked_version() == second->snapshot().version(); }));
  EXPECT_EQ(DataPlane(*mgmt, "dp-nack").nacked_version(), 0u);
}

TEST_F(ControlPlaneTest, InvalidConfigKeepsTheVersionAndReportsFileLineErrors) {
  Start(Options());
  FakeDataPlane dp(Channel());
  ASSERT_TRUE(dp.Hello("dp-1"));
  std::optional<v1::SnapshotUpdate> first = dp.Next();
  ASSERT_TRUE(first.has_value());
  const uint64_t v = first->snapshot().version();

  SaveConfigAtomically("providers:\n  - name: anthropic\n    type: anthropic\n    rpm_limt: 3\n");
  auto mgmt = v1::Management::NewStub(Channel());
  v1::ConfigStatus status;
  ASSERT_TRUE(WaitUntil([&] {
    auto ctx = Ctx();
    return mgmt->GetConfigStatus(ctx.get(), {}, &status).ok() && !status.last_reload_ok();
  }));
  EXPECT_EQ(status.snapshot_version(), v);
  ASSERT_GE(status.last_errors_size(), 1);
  EXPECT_EQ(status.last_errors(0).line(), 4);
  EXPECT_EQ(status.last_errors(0).column(), 5);
  EXPECT_THAT(status.last_errors(0).file(), HasSubstr("config.yaml"));
  EXPECT_THAT(status.last_errors(0).message(), HasSubstr("rpm_limt"));

  // ReloadConfig answers with the same rejection.
  auto ctx = Ctx();
  v1::ConfigStatus reloaded;
  ASSERT_TRUE(mgmt->ReloadConfig(ctx.get(), {}, &reloaded).ok());
  EXPECT_FALSE(reloaded.last_reload_ok());
  EXPECT_EQ(reloaded.snapshot_version(), v);

  // No version was spent: the next valid change is exactly V+1.
  SaveConfigAtomically(std::string(kConfig) + "routing:\n  strategy: round-robin\n");
  std::optional<v1::SnapshotUpdate> next = dp.Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->snapshot().version(), v + 1);
  EXPECT_EQ(next->snapshot().routing().strategy(), "round-robin");
  ASSERT_TRUE(WaitUntil([&] {
    auto c = Ctx();
    return mgmt->GetConfigStatus(c.get(), {}, &status).ok() && status.last_reload_ok();
  }));
  EXPECT_EQ(status.last_errors_size(), 0);
}

TEST_F(ControlPlaneTest, RuntimeChangesReachEveryDataPlaneAtOnce) {
  Start(Options());
  FakeDataPlane dp1(Channel());
  FakeDataPlane dp2(Channel());
  ASSERT_TRUE(dp1.Hello("dp-1"));
  std::optional<v1::SnapshotUpdate> s1 = dp1.Next();
  ASSERT_TRUE(s1.has_value());
  EXPECT_EQ(FindProvider(s1->snapshot(), "anthropic")->keys(0).rpm_limit(), 10u);  // alone
  ASSERT_TRUE(dp2.Hello("dp-2"));
  std::optional<v1::SnapshotUpdate> s2 = dp2.Next();
  ASSERT_TRUE(s2.has_value());
  const uint64_t v = s2->snapshot().version();
  // dp-2's arrival re-divided the key limits (10 a minute: 5 each); dp-1 gets that version too.
  EXPECT_EQ(FindProvider(s2->snapshot(), "anthropic")->keys(0).rpm_limit(), 5u);
  s1 = dp1.Next();
  ASSERT_TRUE(s1.has_value());
  EXPECT_EQ(s1->snapshot().version(), v);
  EXPECT_EQ(FindProvider(s1->snapshot(), "anthropic")->keys(0).rpm_limit(), 5u);

  auto mgmt = v1::Management::NewStub(Channel());
  v1::AddKeyRequest add;
  add.set_provider("backup");
  add.set_key("sk-runtime-added\n");
  add.mutable_limits()->set_rpm_limit(9);
  v1::KeyInfo added;
  auto ctx = Ctx();
  grpc::Status st = mgmt->AddKey(ctx.get(), add, &added);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(added.fingerprint(), FingerprintOf("sk-runtime-added"));
  EXPECT_EQ(added.source(), "runtime");
  EXPECT_EQ(added.state(), "active");
  EXPECT_EQ(added.limits().rpm_limit(), 9u);
  EXPECT_THAT(added.SerializeAsString(), Not(HasSubstr("sk-runtime-added")));

  for (FakeDataPlane* dp : {&dp1, &dp2}) {
    std::optional<v1::SnapshotUpdate> u = dp->Next();
    ASSERT_TRUE(u.has_value());
    EXPECT_EQ(u->snapshot().version(), v + 1);
    EXPECT_THAT(KeyFps(u->snapshot(), "backup"),
                ::testing::ElementsAre(FingerprintOf("sk-runtime-added")));
    EXPECT_EQ(FindProvider(u->snapshot(), "backup")->keys(0).rpm_limit(), 4u);  // 9 / 2
  }

  v1::SetKeyEnabledRequest dis;
  dis.set_provider("backup");
  dis.set_fingerprint(added.fingerprint());
  dis.set_enabled(false);
  v1::KeyInfo disabled;
  ctx = Ctx();
  ASSERT_TRUE(mgmt->SetKeyEnabled(ctx.get(), dis, &disabled).ok());
  EXPECT_EQ(disabled.state(), "disabled");
  std::optional<v1::SnapshotUpdate> u = dp1.Next();
  ASSERT_TRUE(u.has_value());
  EXPECT_FALSE(FindProvider(u->snapshot(), "backup")->keys(0).enabled());

  v1::RemoveKeyRequest rm;
  rm.set_provider("backup");
  rm.set_fingerprint(added.fingerprint());
  v1::RemoveKeyResponse rm_resp;
  ctx = Ctx();
  ASSERT_TRUE(mgmt->RemoveKey(ctx.get(), rm, &rm_resp).ok());
  u = dp1.Next();
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->snapshot().version(), v + 3);
  EXPECT_TRUE(KeyFps(u->snapshot(), "backup").empty());

  ctx = Ctx();
  grpc::Status missing = mgmt->RemoveKey(ctx.get(), rm, &rm_resp);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);

  // Disabling the last enabled provider would leave nothing to route to: refused.
  v1::SetProviderEnabledRequest off;
  off.set_name("backup");
  off.set_enabled(false);
  v1::ProviderInfo pinfo;
  ctx = Ctx();
  ASSERT_TRUE(mgmt->SetProviderEnabled(ctx.get(), off, &pinfo).ok());
  EXPECT_FALSE(pinfo.enabled());
  EXPECT_EQ(pinfo.health(), "disabled");
  EXPECT_EQ(pinfo.source(), "runtime");
  off.set_name("anthropic");
  ctx = Ctx();
  EXPECT_EQ(mgmt->SetProviderEnabled(ctx.get(), off, &pinfo).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ControlPlaneTest, RotationDrainsTheOldKeyAndPersistsAcrossARestart) {
  ControlPlaneOptions o = Options();
  Start(o);
  const std::string old_fp = FingerprintOf("sk-config-a");
  const std::string new_fp = FingerprintOf("sk-rotated-b");
  uint64_t rotated_version = 0;
  {
    FakeDataPlane dp(Channel());
    ASSERT_TRUE(dp.Hello("dp-1"));
    std::optional<v1::SnapshotUpdate> first = dp.Next();
    ASSERT_TRUE(first.has_value());
    ASSERT_TRUE(dp.Ack(*first));

    auto mgmt = v1::Management::NewStub(Channel());
    v1::RotateKeyRequest rot;
    rot.set_provider("anthropic");
    rot.set_old_fingerprint(old_fp);
    rot.set_new_key("sk-rotated-b");
    v1::KeyInfo info;
    auto ctx = Ctx();
    grpc::Status st = mgmt->RotateKey(ctx.get(), rot, &info);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(info.fingerprint(), new_fp);
    EXPECT_EQ(info.limits().rpm_limit(), 10u);  // the old key's limits

    std::optional<v1::SnapshotUpdate> u = dp.Next();
    ASSERT_TRUE(u.has_value());
    rotated_version = u->snapshot().version();
    EXPECT_THAT(KeyFps(u->snapshot(), "anthropic"), ::testing::ElementsAre(new_fp));

    // The old key is draining until the data plane applied the rotation.
    v1::ListKeysRequest lk;
    lk.set_provider("anthropic");
    v1::ListKeysResponse keys;
    ctx = Ctx();
    ASSERT_TRUE(mgmt->ListKeys(ctx.get(), lk, &keys).ok());
    ASSERT_EQ(keys.keys_size(), 2);
    EXPECT_EQ(keys.keys(1).fingerprint(), old_fp);
    EXPECT_EQ(keys.keys(1).state(), "draining");
    EXPECT_THAT(keys.SerializeAsString(), Not(HasSubstr("sk-")));
    ASSERT_TRUE(dp.Ack(*u));
    ASSERT_TRUE(WaitUntil([&] {
      auto c = Ctx();
      v1::ListKeysResponse k2;
      return mgmt->ListKeys(c.get(), lk, &k2).ok() && k2.keys_size() == 1;
    }));
  }
  const std::string state_file = config_ + ".state.json";
  ASSERT_TRUE(std::filesystem::exists(state_file));
  EXPECT_EQ(std::filesystem::status(state_file).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  // Restart: same config (still listing sk-config-a), same state file.
  cp_->Shutdown();
  cp_.reset();
  Start(o);
  FakeDataPlane dp(Channel());
  ASSERT_TRUE(dp.Hello("dp-1", rotated_version));
  std::optional<v1::SnapshotUpdate> after = dp.Next();
  ASSERT_TRUE(after.has_value());
  EXPECT_THAT(KeyFps(after->snapshot(), "anthropic"), ::testing::ElementsAre(new_fp));
  // Versions never go backwards for a data plane that outlived the restart.
  EXPECT_GT(after->snapshot().version(), rotated_version);
}

TEST_F(ControlPlaneTest, TokenIsRequiredOnEveryCall) {
  const std::string token_file = dir_.WriteFile("token", "s3cret-token\n");
  ControlPlaneOptions o = Options();
  o.token_file = token_file;
  Start(o);
  auto mgmt = v1::Management::NewStub(Channel());
  v1::ListProvidersResponse resp;

  auto none = Ctx();
  EXPECT_EQ(mgmt->ListProviders(none.get(), {}, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  auto wrong = Ctx("s3cret-tokem");
  EXPECT_EQ(mgmt->ListProviders(wrong.get(), {}, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  auto right = Ctx("s3cret-token");
  ASSERT_TRUE(mgmt->ListProviders(right.get(), {}, &resp).ok());
  EXPECT_EQ(resp.providers_size(), 2);

  FakeDataPlane refused(Channel(), "nope");
  refused.Hello("dp-x");
  EXPECT_FALSE(refused.Next(std::chrono::milliseconds(2000)).has_value());
  EXPECT_EQ(refused.Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  FakeDataPlane allowed(Channel(), "s3cret-token");
  ASSERT_TRUE(allowed.Hello("dp-ok"));
  EXPECT_TRUE(allowed.Next().has_value());

  // The in-process channel (cc-relay serve) carries the token itself.
  auto inproc = v1::Management::NewStub(cp_->InProcessChannel());
  auto ctx = Ctx();
  EXPECT_TRUE(inproc->ListProviders(ctx.get(), {}, &resp).ok());
  FakeDataPlane in_process(cp_->InProcessChannel());
  ASSERT_TRUE(in_process.Hello("dp-inproc"));
  EXPECT_TRUE(in_process.Next().has_value());
}

TEST_F(ControlPlaneTest, NonLoopbackListenWithoutTokenDoesNotStart) {
  ControlPlaneOptions o = Options();
  o.listen = "0.0.0.0:0";
  auto cp = ControlPlane::Start(o);
  ASSERT_FALSE(cp.ok());
  EXPECT_EQ(cp.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cp.status().message()), HasSubstr("token"));
}

TEST_F(ControlPlaneTest, TlsListenerServesOnlyTlsClients) {
  std::string error;
  std::unique_ptr<TestPki> pki = TestPki::Create(&error);
  ASSERT_NE(pki, nullptr) << error;
  ControlPlaneOptions o = Options();
  o.tls_cert_file = pki->localhost().cert_file;
  o.tls_key_file = pki->localhost().key_file;
  Start(o);
  const std::string port = cp_->listen_address().substr(cp_->listen_address().rfind(':') + 1);

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileOrEmpty(pki->ca_file());
  auto tls =
      v1::Management::NewStub(grpc::CreateChannel("localhost:" + port, grpc::SslCredentials(ssl)));
  v1::ListProvidersResponse resp;
  auto ctx = Ctx();
  grpc::Status st = tls->ListProviders(ctx.get(), {}, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();

  auto plain = v1::Management::NewStub(Channel());
  ctx = Ctx();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  EXPECT_FALSE(plain->ListProviders(ctx.get(), {}, &resp).ok());
}

TEST_F(ControlPlaneTest, ClientCaRequiresAVerifiedClientCertificate) {
  std::string error;
  std::unique_ptr<TestPki> pki = TestPki::Create(&error);
  ASSERT_NE(pki, nullptr) << error;
  ControlPlaneOptions o = Options();
  o.tls_cert_file = pki->localhost().cert_file;
  o.tls_key_file = pki->localhost().key_file;
  o.tls_client_ca_file = pki->ca_file();
  Start(o);
  const std::string target =
      "localhost:" + cp_->listen_address().substr(cp_->listen_address().rfind(':') + 1);
  v1::ListProvidersResponse resp;

  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = ReadFileOrEmpty(pki->ca_file());
  auto anonymous =
      v1::Management::NewStub(grpc::CreateChannel(target, grpc::SslCredentials(no_cert)));
  auto ctx = Ctx();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  EXPECT_FALSE(anonymous->ListProviders(ctx.get(), {}, &resp).ok());

  grpc::SslCredentialsOptions with_cert = no_cert;
  with_cert.pem_cert_chain = ReadFileOrEmpty(pki->localhost().cert_file);
  with_cert.pem_private_key = ReadFileOrEmpty(pki->localhost().key_file);
  auto known =
      v1::Management::NewStub(grpc::CreateChannel(target, grpc::SslCredentials(with_cert)));
  ctx = Ctx();
  grpc::Status st = known->ListProviders(ctx.get(), {}, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();

  // A certificate from another CA is refused.
  std::unique_ptr<TestPki> other = TestPki::Create(&error);
  ASSERT_NE(other, nullptr) << error;
  grpc::SslCredentialsOptions foreign = no_cert;
  foreign.pem_cert_chain = ReadFileOrEmpty(other->localhost().cert_file);
  foreign.pem_private_key = ReadFileOrEmpty(other->localhost().key_file);
  auto stranger =
      v1::Management::NewStub(grpc::CreateChannel(target, grpc::SslCredentials(foreign)));
  ctx = Ctx();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  EXPECT_FALSE(stranger->ListProviders(ctx.get(), {}, &resp).ok());
}

TEST_F(ControlPlaneTest, StatsFromDataPlanesAreAggregatedAndWatched) {
  Start(Options());
  FakeDataPlane dp(Channel());
  ASSERT_TRUE(dp.Hello("dp-stats"));
  ASSERT_TRUE(dp.Next().has_value());

  auto mgmt = v1::Management::NewStub(Channel());
  auto watch_ctx = Ctx();
  v1::WatchStatsRequest wreq;
  wreq.set_interval_ms(100);
  auto watch = mgmt->WatchStats(watch_ctx.get(), wreq);
  v1::StatsSnapshot s;
  ASSERT_TRUE(watch->Read(&s));  // one at once
  EXPECT_EQ(s.requests(), 0u);
  EXPECT_EQ(s.version(), CCR_VERSION);

  v1::DataPlaneMessage m;
  v1::StatsReport* r = m.mutable_stats();
  r->set_requests(3);
  r->set_active_streams(2);
  v1::KeyStats* k = r->add_keys();
  k->set_provider("anthropic");
  k->set_key_fingerprint(FingerprintOf("sk-config-a"));
  k->set_requests(3);
  k->set_input_tokens(30);
  k->set_output_tokens(12);
  v1::RecentRequest* rr = r->add_recent();
  rr->set_request_id("req_ccr_1");
  rr->set_status(200);
  ASSERT_TRUE(dp.Send(m));

  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    ASSERT_TRUE(watch->Read(&s));
    seen = s.requests() == 3;
  }
  ASSERT_TRUE(seen);
  EXPECT_EQ(s.input_tokens(), 30u);
  EXPECT_EQ(s.active_streams(), 2);
  ASSERT_EQ(s.recent_size(), 1);
  EXPECT_EQ(s.recent(0).data_plane(), "dp-stats");
  ASSERT_GE(s.providers_size(), 1);
  EXPECT_EQ(s.providers(0).requests(), 3u);
  EXPECT_EQ(s.providers(0).keys(0).requests(), 3u);
  EXPECT_DOUBLE_EQ(s.providers(0).keys(0).rpm_used(), 3.0);
  watch_ctx->TryCancel();

  v1::ListDataPlanesResponse dps;
  auto ctx = Ctx();
  ASSERT_TRUE(mgmt->ListDataPlanes(ctx.get(), {}, &dps).ok());
  ASSERT_EQ(dps.data_planes_size(), 1);
  EXPECT_EQ(dps.data_planes(0).active_streams(), 2);
}

TEST_F(ControlPlaneTest, ShowConfigAndValidateNeverLeakSecrets) {
  Start(Options());
  auto mgmt = v1::Management::NewStub(Channel());
  v1::ShowConfigResponse show;
  auto ctx = Ctx();
  ASSERT_TRUE(mgmt->ShowConfig(ctx.get(), {}, &show).ok());
  EXPECT_THAT(show.yaml(), Not(HasSubstr("sk-config-a")));
  EXPECT_THAT(show.yaml(), HasSubstr(FingerprintOf("sk-config-a")));
  EXPECT_EQ(show.snapshot_version(), 1u);

  v1::ValidateConfigRequest vreq;
  vreq.set_yaml("providers:\n  - name: x\n    type: nope\n    keys:\n      - key: sk-leak-me\n");
  v1::ValidateConfigResponse vresp;
  ctx = Ctx();
  ASSERT_TRUE(mgmt->ValidateConfig(ctx.get(), vreq, &vresp).ok());
  EXPECT_FALSE(vresp.valid());
  ASSERT_GE(vresp.errors_size(), 1);
  EXPECT_EQ(vresp.errors(0).line(), 3);
  EXPECT_THAT(vresp.SerializeAsString(), Not(HasSubstr("sk-leak-me")));

  ctx = Ctx();
  ASSERT_TRUE(mgmt->ValidateConfig(ctx.get(), {}, &vresp).ok());  // its own file
  EXPECT_TRUE(vresp.valid());
}

TEST_F(ControlPlaneTest, ShutdownEndsStreamsWithUnavailable) {
  Start(Options());
  FakeDataPlane dp(Channel());
  ASSERT_TRUE(dp.Hello("dp-1"));
  ASSERT_TRUE(dp.Next().has_value());
  cp_->Shutdown();
  EXPECT_EQ(dp.Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace ccrelay::testing
