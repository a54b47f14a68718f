// MintedKeys: which providers mint, the key each gets in a snapshot, restarts on settings
// changes, and the snapshot a data plane receives (no token_source; the health checker works on
// the minted key).
#include "controlplane/credentials/minted_keys.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controlplane/credentials/aws_chain_source.h"
#include "controlplane/health/health_checker.h"
#include "controlplane/snapshot/data_plane_view.h"
#include "dataplane/common/secret.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/health_check_snapshot.h"
#include "tests/fakes/scripted_credential_source.h"

namespace ccrelay::controlplane::credentials {
namespace {

using ccrelay::v1::CheckedHealth;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;
using FakeClock = ::ccrelay::testing::FakeClock;
using Source = ::ccrelay::testing::ScriptedCredentialSource;

// Polls `done` (real time) until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& done, milliseconds timeout = seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

ccrelay::v1::Provider* AddProvider(ccrelay::v1::RoutingSnapshot* s, const std::string& name,
                                   const std::string& type) {
  ccrelay::v1::Provider* p = s->add_providers();
  p->set_name(name);
  p->set_type(type);
  p->set_enabled(true);
  p->set_base_url("http://127.0.0.1:9");
  return p;
}

const ccrelay::v1::Provider* FindProvider(const ccrelay::v1::RoutingSnapshot& s,
                                          const std::string& name) {
  for (const auto& p : s.providers()) {
    if (p.name() == name) {
      return &p;
    }
  }
  return nullptr;
}

// A registry with one scripted token type, "tokenish": each provider gets its own scripted
// source (by name); settings are its gcp_project_id.
class MintedKeysTest : public ::testing::Test {
 protected:
  MintedKeysTest() {
    Minter m;
    m.source = [this](const ccrelay::v1::Provider& p) -> std::unique_ptr<CredentialSource> {
      ++built_[p.name()];
      return std::make_unique<Forward>(SourceFor(p.name()));
    };
    m.settings = [](const ccrelay::v1::Provider& p) { return p.gcp_project_id(); };
    m.refresher.noun = "Google token";
    m.refresher.log_prefix = "google_token";
    // The refreshers' threads stay out of the way: nothing is due for hours by any clock, only
    // RefreshSoon() makes them act.
    m.refresher.initial_backoff = std::chrono::hours(10);
    m.refresher.max_backoff = std::chrono::hours(10);
    minters_.emplace("tokenish", std::move(m));
  }

  std::unique_ptr<MintedKeys> Make() {
    MintedKeys::Deps d;
    d.minters = minters_;
    d.on_change = [this] { ++changes_; };
    d.clock = &clock_;
    return std::make_unique<MintedKeys>(std::move(d));
  }

  std::shared_ptr<Source> SourceFor(const std::string& provider) {
    std::shared_ptr<Source>& s = sources_[provider];
    if (s == nullptr) {
      s = std::make_shared<Source>();
    }
    return s;
  }

  int64_t In(milliseconds d) const { return clock_.UnixMillis() + d.count(); }

  // Adds a "tokenish" provider `name` to `s` and starts minting for it, its first token `token`
  // valid for `life`.
  std::unique_ptr<MintedKeys> StartOne(ccrelay::v1::RoutingSnapshot* s, const std::string& name,
                                       const std::string& token, milliseconds life) {
    AddProvider(s, name, "tokenish");
    SourceFor(name)->Push(Source::Token(token, In(life)));
    auto keys = Make();
    keys->Sync(*s);
    return keys;
  }

  // The snapshot after Overlay().
  ccrelay::v1::RoutingSnapshot Overlaid(const MintedKeys& keys,
                                        const ccrelay::v1::RoutingSnapshot& s) const {
    ccrelay::v1::RoutingSnapshot out = s;
    keys.Overlay(&out);
    return out;
  }

  // Forwards to a shared scripted source (MintedKeys owns what the factory returns).
  class Forward final : public CredentialSource {
   public:
    explicit Forward(std::shared_ptr<Source> s) : s_(std::move(s)) {}
    absl::StatusOr<MintedCredential> Resolve() override { return s_->Resolve(); }

   private:
    std::shared_ptr<Source> s_;
  };

  FakeClock clock_;
  Minters minters_;
  std::map<std::string, std::shared_ptr<Source>> sources_;
  std::map<std::string, int> built_;
  std::atomic<int> changes_{0};
};

TEST_F(MintedKeysTest, AMintingProviderGetsOneBearerKeyWithItsExpiry) {
  ccrelay::v1::RoutingSnapshot s;
  AddProvider(&s, "vx", "tokenish");
  ccrelay::v1::Provider* keyed = AddProvider(&s, "keyed", "tokenish");
  keyed->add_keys()->set_secret("sk-configured");
  AddProvider(&s, "other", "anthropic");
  SourceFor("vx")->Push(Source::Token("ya29.vx-one", In(minutes(60)), "service account sa@p"));

  auto keys = Make();
  EXPECT_TRUE(keys->Mints(s.providers(0)));
  EXPECT_FALSE(keys->Mints(s.providers(1)));  // keys of its own
  EXPECT_FALSE(keys->Mints(s.providers(2)));  // a type nobody mints for
  EXPECT_TRUE(keys->Applies(s));
  keys->Sync(s);
  EXPECT_EQ(built_["vx"], 1);
  EXPECT_EQ(built_.count("keyed"), 0u);
  EXPECT_GE(changes_, 1);

  const ccrelay::v1::RoutingSnapshot out = Overlaid(*keys, s);
  const ccrelay::v1::Provider& vx = *FindProvider(out, "vx");
  ASSERT_EQ(vx.keys_size(), 1);
  const ccrelay::v1::Key& k = vx.keys(0);
  EXPECT_EQ(k.id(), "vx/minted");
  EXPECT_EQ(k.secret(), "ya29.vx-one");
  EXPECT_TRUE(k.oauth_token());
  EXPECT_EQ(k.expires_unix_ms(), In(minutes(60)));
  EXPECT_EQ(k.fingerprint(), common::FingerprintOf("ya29.vx-one"));
  EXPECT_TRUE(k.enabled());
  EXPECT_EQ(k.weight(), 1u);
  EXPECT_FALSE(k.has_aws());
  EXPECT_EQ(k.health().state(), CheckedHealth::HEALTHY);
  EXPECT_EQ(k.health().reason(), "Google token from service account sa@p");
  EXPECT_EQ(k.health().since_unix_ms(), clock_.UnixMillis());
  EXPECT_EQ(vx.health().state(), CheckedHealth::UNKNOWN);
  // Others untouched.
  EXPECT_EQ(FindProvider(out, "keyed")->keys_size(), 1);
  EXPECT_EQ(FindProvider(out, "other")->keys_size(), 0);

  const std::map<std::string, CredentialState> states = keys->States();
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(DescribeCredential(states.at("vx"), clock_.UnixMillis()),
            "service account sa@p, token " + common::FingerprintOf("ya29.vx-one") +
                ", expires in 60 min");
}

TEST_F(MintedKeysTest, WithoutATokenTheProviderIsUnhealthyWithTheSourcesError) {
  ccrelay::v1::RoutingSnapshot s;
  AddProvider(&s, "vx", "tokenish");
  SourceFor("vx")->PushErrors(1, "service account file sa.json: no private_key");
  auto keys = Make();
  keys->Sync(s);
  const ccrelay::v1::RoutingSnapshot out = Overlaid(*keys, s);
  const ccrelay::v1::Provider& vx = *FindProvider(out, "vx");
  EXPECT_EQ(vx.keys_size(), 0);
  EXPECT_EQ(vx.health().state(), CheckedHealth::UNHEALTHY);
  EXPECT_EQ(vx.health().reason(), "no Google token: service account file sa.json: no private_key");
  EXPECT_EQ(DescribeCredential(keys->States().at("vx"), clock_.UnixMillis()),
            "none: service account file sa.json: no private_key");
}

TEST_F(MintedKeysTest, AFailingRefreshKeepsTheValidTokenThenItsExpiryMakesTheProviderUnhealthy) {
  ccrelay::v1::RoutingSnapshot s;
  auto keys = StartOne(&s, "vx", "ya29.vx-one", minutes(20));
  std::shared_ptr<Source> src = SourceFor("vx");
  const int changes_after_sync = changes_;

  // A refresh that fails (the refresher's thread runs it).
  src->PushErrors(1, "token endpoint http://127.0.0.1:9/token: HTTP 503");
  keys->RefreshSoon("vx");
  ASSERT_TRUE(Eventually([&] { return keys->States().at("vx").consecutive_failures == 1; }));
  ccrelay::v1::RoutingSnapshot out = Overlaid(*keys, s);
  ASSERT_EQ(FindProvider(out, "vx")->keys_size(), 1);  // the valid token keeps serving
  EXPECT_EQ(FindProvider(out, "vx")->keys(0).secret(), "ya29.vx-one");
  EXPECT_NE(FindProvider(out, "vx")->health().state(), CheckedHealth::UNHEALTHY);
  clock_.Advance(minutes(8));
  const std::string description = DescribeCredential(keys->States().at("vx"), clock_.UnixMillis());
  EXPECT_THAT(description, HasSubstr("refresh failing since 2027-01-15T08:00:00Z (1 attempt): "
                                     "token endpoint http://127.0.0.1:9/token: HTTP 503"));
  EXPECT_THAT(description, HasSubstr("valid for 12 min"));
  EXPECT_THAT(description, Not(HasSubstr("ya29")));
  EXPECT_EQ(changes_, changes_after_sync);  // a failure alone changes nothing served

  // Past its expiry the token is gone and the provider says why.
  clock_.Advance(minutes(12));
  out = Overlaid(*keys, s);
  EXPECT_EQ(FindProvider(out, "vx")->keys_size(), 0);
  EXPECT_EQ(FindProvider(out, "vx")->health().state(), CheckedHealth::UNHEALTHY);
  EXPECT_EQ(FindProvider(out, "vx")->health().reason(),
            "no Google token: token endpoint http://127.0.0.1:9/token: HTTP 503");
}

TEST_F(MintedKeysTest, ANewTokenSaysHealthySinceItsArrivalSoADisabledKeyComesBack) {
  ccrelay::v1::RoutingSnapshot s;
  auto keys = StartOne(&s, "vx", "ya29.vx-one", minutes(60));
  std::shared_ptr<Source> src = SourceFor("vx");
  const int64_t first = clock_.UnixMillis();
  EXPECT_EQ(Overlaid(*keys, s).providers(0).keys(0).health().since_unix_ms(), first);
  clock_.Advance(minutes(3));
  // The same token: the same "since" (a key disabled after it arrived stays disabled).
  EXPECT_EQ(Overlaid(*keys, s).providers(0).keys(0).health().since_unix_ms(), first);

  // A data plane reported the key disabled: the control plane asks for a new token at once.
  const int before = changes_;
  src->Push(Source::Token("ya29.vx-two", In(minutes(60))));
  keys->RefreshSoon("vx");
  ASSERT_TRUE(Eventually([&] { return changes_ > before; }));
  const ccrelay::v1::Key k = Overlaid(*keys, s).providers(0).keys(0);
  EXPECT_EQ(k.id(), "vx/minted");  // the same key, for its state and session affinity
  EXPECT_EQ(k.secret(), "ya29.vx-two");
  EXPECT_EQ(k.health().state(), CheckedHealth::HEALTHY);
  EXPECT_EQ(k.health().since_unix_ms(), clock_.UnixMillis());
}

TEST_F(MintedKeysTest, ASettingsChangeRestartsTheRefresherAndOtherChangesDoNot) {
  ccrelay::v1::RoutingSnapshot s;
  ccrelay::v1::Provider* p = AddProvider(&s, "vx", "tokenish");
  p->set_gcp_project_id("project-one");
  std::shared_ptr<Source> src = SourceFor("vx");
  src->Push(Source::Token("ya29.one", In(minutes(60))));
  auto keys = Make();
  keys->Sync(s);
  EXPECT_EQ(built_["vx"], 1);

  // Something the source does not depend on: the same refresher, no new token.
  p->add_models("claude-sonnet-4");
  keys->Sync(s);
  EXPECT_EQ(built_["vx"], 1);
  EXPECT_EQ(src->Calls(), 1);

  // Its settings: a new source and a first token from it at once.
  p->set_gcp_project_id("project-two");
  src->Push(Source::Token("ya29.two", In(minutes(60))));
  keys->Sync(s);
  EXPECT_EQ(built_["vx"], 2);
  EXPECT_EQ(src->Calls(), 2);
  EXPECT_EQ(Overlaid(*keys, s).providers(0).keys(0).secret(), "ya29.two");
}

TEST_F(MintedKeysTest, WithoutASettingsFunctionTheTokenSourceIsTheSettings) {
  minters_.at("tokenish").settings = nullptr;
  ccrelay::v1::RoutingSnapshot s;
  ccrelay::v1::Provider* p = AddProvider(&s, "az", "tokenish");
  p->mutable_token_source()->set_azure_client_id("app-one");
  std::shared_ptr<Source> src = SourceFor("az");
  src->Push(Source::Token("eyJ.one", In(minutes(60))));
  auto keys = Make();
  keys->Sync(s);
  p->set_gcp_project_id("not-a-setting-now");
  keys->Sync(s);
  EXPECT_EQ(built_["az"], 1);
  p->mutable_token_source()->set_azure_client_id("app-two");
  src->Push(Source::Token("eyJ.two", In(minutes(60))));
  keys->Sync(s);
  EXPECT_EQ(built_["az"], 2);
}

TEST_F(MintedKeysTest, ADisabledRemovedOrKeyedProviderStopsMinting) {
  ccrelay::v1::RoutingSnapshot s;
  auto keys = StartOne(&s, "vx", "ya29.one", minutes(60));
  ccrelay::v1::Provider* p = s.mutable_providers(0);
  ASSERT_EQ(keys->States().size(), 1u);

  p->set_enabled(false);
  const int before = changes_;
  keys->Sync(s);
  EXPECT_TRUE(keys->States().empty());
  EXPECT_GT(changes_, before);  // the key leaves the snapshot
  EXPECT_FALSE(keys->Applies(s));
  EXPECT_EQ(Overlaid(*keys, s).providers(0).keys_size(), 0);
  keys->RefreshSoon("vx");  // no-op

  // Enabled again, then given a key of its own (a runtime AddKey): that key is used instead.
  p->set_enabled(true);
  SourceFor("vx")->Push(Source::Token("ya29.two", In(minutes(60))));
  keys->Sync(s);
  EXPECT_EQ(keys->States().size(), 1u);
  p->add_keys()->set_secret("sk-runtime");
  keys->Sync(s);
  EXPECT_TRUE(keys->States().empty());
  const ccrelay::v1::RoutingSnapshot out = Overlaid(*keys, s);
  ASSERT_EQ(out.providers(0).keys_size(), 1);
  EXPECT_EQ(out.providers(0).keys(0).secret(), "sk-runtime");

  // A provider that is gone stops too.
  s.clear_providers();
  keys->Sync(s);
  EXPECT_TRUE(keys->States().empty());
}

TEST_F(MintedKeysTest, SyncSoonStartsRefreshersOnItsOwnThread) {
  auto s = std::make_shared<ccrelay::v1::RoutingSnapshot>();
  AddProvider(s.get(), "vx", "tokenish");
  SourceFor("vx")->Push(Source::Token("ya29.one", In(minutes(60))));
  auto keys = Make();
  keys->SyncSoon(s);
  ASSERT_TRUE(Eventually([&] { return keys->States().size() == 1; }));
  keys->Stop();
  EXPECT_TRUE(keys->States().empty());
}

TEST_F(MintedKeysTest, BedrockKeepsItsChainKeyId) {
  minters_.emplace("bedrock",
                   aws::BedrockMinter(aws::MapEnvironment({{"AWS_ACCESS_KEY_ID", "AKIDMINTEDTEST"},
                                                           {"AWS_SECRET_ACCESS_KEY", "aws-sec"}}),
                                      &clock_));
  ccrelay::v1::RoutingSnapshot s;
  AddProvider(&s, "br", "bedrock")->set_aws_region("eu-west-1");
  auto keys = Make();
  keys->Sync(s);
  const ccrelay::v1::RoutingSnapshot out = Overlaid(*keys, s);
  ASSERT_EQ(out.providers(0).keys_size(), 1);
  const ccrelay::v1::Key& k = out.providers(0).keys(0);
  EXPECT_EQ(k.id(), "br/aws-chain");
  EXPECT_EQ(k.fingerprint(), common::FingerprintOf("AKIDMINTEDTEST"));
  EXPECT_EQ(k.aws().access_key_id(), "AKIDMINTEDTEST");
  EXPECT_EQ(k.aws().secret_access_key(), "aws-sec");
  EXPECT_EQ(k.aws().source(), "environment");
  EXPECT_TRUE(k.secret().empty());
  EXPECT_FALSE(k.oauth_token());
  EXPECT_EQ(k.expires_unix_ms(), 0);
  EXPECT_EQ(k.health().reason(), "AWS credentials from environment");
  EXPECT_EQ(DescribeCredential(keys->States().at("br"), clock_.UnixMillis()),
            "environment, key " + common::FingerprintOf("AKIDMINTEDTEST"));
}

// ---- What a data plane receives --------------------------------------------------------------

// Holds the probes the health checker starts; answers them all with `status`.
struct RecordedProbes {
  std::vector<std::string> keys;
  HealthChecker::ProbeFn Fn(int status) {
    return [this, status](boost::asio::io_context&, const ProbeRequest& request,
                          std::function<void(ProbeResult)> done) {
      keys.push_back(request.key);
      ProbeResult r;
      r.status = status;
      done(std::move(r));
    };
  }
};

TEST_F(MintedKeysTest, ADataPlaneGetsTheTokenButNeverTheTokenSourceAndTheHealthCheckerWorks) {
  // One provider "a" of the scripted type, without keys, with what its tokens are minted from.
  minters_.emplace("anthropic", minters_.at("tokenish"));
  std::shared_ptr<ccrelay::v1::RoutingSnapshot> s =
      ::ccrelay::testing::HealthCheckSnapshot(1000, "http://127.0.0.1:9", {});
  ccrelay::v1::TokenSource* ts = s->mutable_providers(0)->mutable_token_source();
  ts->set_gcp_credentials_file("sa-private.json");
  ts->set_azure_client_secret("client-secret-never-on-a-data-plane");
  ts->set_azure_tenant_id("tenant-1");
  SourceFor("a")->Push(Source::Token("ya29.for-data-planes", In(minutes(60))));
  auto keys = Make();
  keys->Sync(*s);

  // The health checker sees the minted key and checks it.
  RecordedProbes probes;
  HealthChecker::Deps hd;
  hd.current = [&keys, s] { return WithMintedKeys(*keys, s); };
  hd.on_change = [] { return uint64_t{1}; };
  hd.clock = &clock_;
  hd.probe = probes.Fn(200);
  HealthChecker checker(std::move(hd));
  checker.RunForTest();
  ASSERT_EQ(probes.keys.size(), 1u);
  EXPECT_EQ(probes.keys[0], "ya29.for-data-planes");
  EXPECT_EQ(checker.Get("a", common::FingerprintOf("ya29.for-data-planes")).state(),
            CheckedHealth::HEALTHY);

  // The data plane's snapshot: the token as a key with the checker's verdict, no token_source.
  ccrelay::v1::RoutingSnapshot dp = *s;
  ApplyDataPlaneView(keys.get(), 2, &checker, &dp);
  const ccrelay::v1::Provider& a = dp.providers(0);
  EXPECT_FALSE(a.has_token_source());
  ASSERT_EQ(a.keys_size(), 1);
  EXPECT_EQ(a.keys(0).secret(), "ya29.for-data-planes");
  EXPECT_TRUE(a.keys(0).oauth_token());
  EXPECT_EQ(a.keys(0).health().state(), CheckedHealth::HEALTHY);
  const std::string wire = dp.SerializeAsString();
  for (const char* secret :
       {"client-secret-never-on-a-data-plane", "sa-private.json", "tenant-1"}) {
    EXPECT_THAT(wire, Not(HasSubstr(secret))) << secret;
  }
  // Without minting at all (no minted keys, no checker) it is stripped as well.
  ccrelay::v1::RoutingSnapshot bare = *s;
  ApplyDataPlaneView(nullptr, 1, nullptr, &bare);
  EXPECT_FALSE(bare.providers(0).has_token_source());
  // The control plane's own copy keeps it (the refreshers need it).
  EXPECT_TRUE(s->providers(0).has_token_source());
}

}  // namespace
}  // namespace ccrelay::controlplane::credentials
