// ConfigStore: runtime changes persist in the state file and survive a restart; reloads are
// applied whole or not at all; versions move only on effective changes.
#include "controlplane/state/config_store.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "proto/snapshot.pb.h"

#include "dataplane/common/secret.h"
#include "tests/fakes/fake_clock.h"

namespace ccrelay::controlplane {
namespace {

using common::FingerprintOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kConfig = R"(providers:
  - name: anthropic
    type: anthropic
    keys:
      - key: sk-config-a
        rpm_limit: 10
        tpm_limit: 1000
  - name: backup
    type: anthropic
)";

class ConfigStoreTest : public ::testing::Test {
 protected:
  ConfigStoreTest() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccr-store-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    config_path_ = dir_ + "/config.yaml";
    state_path_ = dir_ + "/config.yaml.state.json";
    WriteConfig(kConfig);
  }
  ~ConfigStoreTest() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void WriteConfig(std::string_view text) {
    std::ofstream out(config_path_, std::ios::trunc);
    out << text;
  }

  std::unique_ptr<ConfigStore> Open(SnapshotCache* cache) {
    ConfigStore::Options o;
    o.config_path = config_path_;
    o.state_file = state_path_;
    o.env = [](std::string_view) { return std::optional<std::string>(); };
    o.clock = &clock_;
    auto store = ConfigStore::Create(o, cache);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  static const ccrelay::v1::Provider& P(const SnapshotCache& cache, const std::string& name) {
    for (const auto& p : cache.Current()->providers()) {
      if (p.name() == name) {
        return p;
      }
    }
    ADD_FAILURE() << "no provider " << name;
    return cache.Current()->providers(0);
  }

  static std::vector<std::string> Fps(const ccrelay::v1::Provider& p) {
    std::vector<std::string> out;
    for (const auto& k : p.keys()) {
      out.push_back(k.fingerprint());
    }
    return out;
  }

  std::string ReadState() const {
    std::ifstream in(state_path_);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  testing::FakeClock clock_;
  std::string dir_;
  std::string config_path_;
  std::string state_path_;
};

TEST_F(ConfigStoreTest, FirstSnapshotIsVersionOne) {
  SnapshotCache cache;
  auto store = Open(&cache);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(cache.version(), 1u);
  EXPECT_EQ(cache.Current()->providers_size(), 2);
  EXPECT_FALSE(std::filesystem::exists(state_path_));  // nothing changed at runtime yet
}

TEST_F(ConfigStoreTest, AddKeyIsPublishedAndPersisted) {
  SnapshotCache cache;
  auto store = Open(&cache);
  absl::StatusOr<std::string> fp =
      store->AddKey("backup", "  sk-new-key\n", KeyLimitsSpec{5, 6, 0, 0, 2});
  ASSERT_TRUE(fp.ok()) << fp.status();
  EXPECT_EQ(*fp, FingerprintOf("sk-new-key"));  // trimmed
  EXPECT_EQ(cache.version(), 2u);
  ASSERT_EQ(P(cache, "backup").keys_size(), 1);
  EXPECT_EQ(P(cache, "backup").keys(0).secret(), "sk-new-key");
  EXPECT_EQ(P(cache, "backup").keys(0).rpm_limit(), 5u);
  EXPECT_EQ(P(cache, "backup").keys(0).weight(), 2u);

  // A fresh control plane (same files) has it.
  SnapshotCache cache2;
  auto store2 = Open(&cache2);
  EXPECT_THAT(Fps(P(cache2, "backup")), ::testing::ElementsAre(*fp));
  EXPECT_FALSE(store2->IsConfigKey("backup", *fp));
}

TEST_F(ConfigStoreTest, AddKeyRefusesDuplicatesBadKeysAndUnknownProviders) {
  SnapshotCache cache;
  auto store = Open(&cache);
  EXPECT_EQ(store->AddKey("anthropic", "sk-config-a", {}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->AddKey("nope", "sk-x", {}).status().code(), absl::StatusCode::kNotFound);
  absl::Status bad = store->AddKey("anthropic", "sk-with space", {}).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), Not(HasSubstr("sk-with")));
  EXPECT_EQ(store->AddKey("anthropic", " \n", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.version(), 1u);
}

TEST_F(ConfigStoreTest, RotateBringsNewKeyInTakesOldOutAndSurvivesRestart) {
  SnapshotCache cache;
  auto store = Open(&cache);
  const std::string old_fp = FingerprintOf("sk-config-a");
  absl::StatusOr<std::string> fp =
      store->RotateKey("anthropic", old_fp, "sk-rotated-b", std::nullopt);
  ASSERT_TRUE(fp.ok()) << fp.status();
  EXPECT_EQ(cache.version(), 2u);
  EXPECT_THAT(Fps(P(cache, "anthropic")), ::testing::ElementsAre(*fp));
  // Limits came from the old key.
  EXPECT_EQ(P(cache, "anthropic").keys(0).rpm_limit(), 10u);
  EXPECT_EQ(P(cache, "anthropic").keys(0).tpm_limit(), 1000u);

  // The old key drains until every data plane applied version 2.
  std::vector<DrainingKey> draining = store->Draining([](uint64_t v) { return v <= 1; });
  ASSERT_EQ(draining.size(), 1u);
  EXPECT_EQ(draining[0].fingerprint, old_fp);
  EXPECT_EQ(draining[0].source, "config");
  EXPECT_EQ(draining[0].removed_in_version, 2u);
  EXPECT_TRUE(store->Draining([](uint64_t v) { return v <= 2; }).empty());

  // The state file is private and holds a tombstone for the YAML key.
  EXPECT_THAT(ReadState(), HasSubstr(old_fp));

  // Restart: the YAML still lists sk-config-a, the rotation stays.
  SnapshotCache cache2;
  auto store2 = Open(&cache2);
  EXPECT_THAT(Fps(P(cache2, "anthropic")), ::testing::ElementsAre(*fp));
}

TEST_F(ConfigStoreTest, RotateRefusesUnknownOldKeyAndSameKey) {
  SnapshotCache cache;
  auto store = Open(&cache);
  EXPECT_EQ(store->RotateKey("anthropic", "00000000", "sk-x", std::nullopt).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->RotateKey("anthropic", FingerprintOf("sk-config-a"), "sk-config-a", std::nullopt)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.version(), 1u);
}

TEST_F(ConfigStoreTest, RemovedConfigKeyStaysRemovedAcrossReloadAndComesBackWhenReAdded) {
  SnapshotCache cache;
  auto store = Open(&cache);
  const std::string fp = FingerprintOf("sk-config-a");
  ASSERT_TRUE(store->RemoveKey("anthropic", fp).ok());
  EXPECT_TRUE(P(cache, "anthropic").keys().empty());
  EXPECT_EQ(store->RemoveKey("anthropic", fp).code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(store->Reload().ok());  // the YAML still has it: stays removed
  EXPECT_TRUE(P(cache, "anthropic").keys().empty());
  EXPECT_EQ(cache.version(), 2u);

  ASSERT_TRUE(store->AddKey("anthropic", "sk-config-a", {}).ok());
  ASSERT_EQ(P(cache, "anthropic").keys_size(), 1);
  EXPECT_EQ(P(cache, "anthropic").keys(0).rpm_limit(), 10u);  // the YAML's settings again
  EXPECT_TRUE(store->IsConfigKey("anthropic", fp));
}

TEST_F(ConfigStoreTest, ChangesThatWouldBreakTheSnapshotAreRefused) {
  SnapshotCache cache;
  auto store = Open(&cache);
  ASSERT_TRUE(store->SetProviderEnabled("backup", false).ok());
  EXPECT_EQ(cache.version(), 2u);
  EXPECT_EQ(store->SetProviderEnabled("anthropic", false).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cache.version(), 2u);
  EXPECT_TRUE(P(cache, "anthropic").enabled());
  EXPECT_EQ(store->SetProviderEnabled("ghost", false).code(), absl::StatusCode::kNotFound);
}

TEST_F(ConfigStoreTest, InvalidReloadIsRejectedWholeWithPositions) {
  SnapshotCache cache;
  auto store = Open(&cache);
  WriteConfig("providers:\n  - name: anthropic\n    type: anthropic\n    bogus: 1\n");
  clock_.Advance(std::chrono::seconds(5));
  absl::Status st = store->Reload();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("config.yaml:4:5"));
  EXPECT_EQ(cache.version(), 1u);
  EXPECT_EQ(cache.Current()->providers_size(), 2);
  ConfigStatusInfo status = store->Status();
  EXPECT_FALSE(status.last_reload_ok);
  ASSERT_FALSE(status.last_errors.empty());
  EXPECT_EQ(status.last_errors[0].line, 4);
  EXPECT_EQ(status.last_reload_unix_ms, clock_.UnixMillis());

  WriteConfig(kConfig);
  ASSERT_TRUE(store->Reload().ok());
  EXPECT_TRUE(store->Status().last_reload_ok);
  EXPECT_EQ(cache.version(), 1u);  // same effective config: same version
}

TEST_F(ConfigStoreTest, ReloadIfChangedIgnoresUnchangedBytes) {
  SnapshotCache cache;
  auto store = Open(&cache);
  const int64_t first = store->Status().last_reload_unix_ms;
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(store->ReloadIfChanged().ok());
  EXPECT_EQ(store->Status().last_reload_unix_ms, first);  // not even parsed

  std::string edited(kConfig);
  edited.replace(edited.find("rpm_limit: 10"), 13, "rpm_limit: 20");
  WriteConfig(edited);
  ASSERT_TRUE(store->ReloadIfChanged().ok());
  EXPECT_EQ(cache.version(), 2u);
  EXPECT_EQ(P(cache, "anthropic").keys(0).rpm_limit(), 20u);
  // Key ids do not change with a reload.
  EXPECT_EQ(P(cache, "anthropic").keys(0).id(), "anthropic/" + FingerprintOf("sk-config-a"));
}

TEST_F(ConfigStoreTest, KeyGoneFromYamlDropsItsOverrides) {
  SnapshotCache cache;
  auto store = Open(&cache);
  ASSERT_TRUE(store->SetKeyEnabled("anthropic", FingerprintOf("sk-config-a"), false).ok());
  EXPECT_FALSE(P(cache, "anthropic").keys(0).enabled());
  EXPECT_FALSE(store->runtime_state().empty());
  WriteConfig(
      "providers:\n  - name: anthropic\n    type: anthropic\n  - name: backup\n"
      "    type: anthropic\n");
  ASSERT_TRUE(store->Reload().ok());
  EXPECT_TRUE(store->runtime_state().empty());
  EXPECT_THAT(ReadState(), Not(HasSubstr(FingerprintOf("sk-config-a"))));
}

TEST_F(ConfigStoreTest, CorruptStateFileStopsTheStart) {
  {
    std::ofstream out(state_path_);
    out << "{broken";
  }
  SnapshotCache cache;
  ConfigStore::Options o;
  o.config_path = config_path_;
  o.state_file = state_path_;
  auto store = ConfigStore::Create(o, &cache);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ccrelay::controlplane
