// How runtime state (management API) combines with the YAML: the rules of runtime_state.h.
#include "controlplane/snapshot/snapshot_builder.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controlplane/config/config_loader.h"
#include "dataplane/common/secret.h"

namespace ccrelay::controlplane {
namespace {

using ccrelay::v1::Key;
using ccrelay::v1::Provider;
using ccrelay::v1::RoutingSnapshot;
using common::FingerprintOf;
using ::testing::ElementsAre;

RoutingSnapshot Load(std::string_view yaml) {
  LoadResult r = LoadConfigString(yaml, "test.yaml",
                                  [](std::string_view) { return std::optional<std::string>(); });
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].ToString());
  return r.snapshot.value_or(RoutingSnapshot());
}

constexpr std::string_view kTwoProviders = R"(
providers:
  - name: anthropic
    type: anthropic
    keys:
      - key: sk-config-a
        rpm_limit: 10
      - key: sk-config-b
  - name: zai
    type: zai
    weight: 7
    keys:
      - key: zai-key-1
)";

const Provider& P(const RoutingSnapshot& s, const std::string& name) {
  for (const Provider& p : s.providers()) {
    if (p.name() == name) {
      return p;
    }
  }
  ADD_FAILURE() << "no provider " << name;
  return s.providers(0);
}

std::vector<std::string> Fingerprints(const Provider& p) {
  std::vector<std::string> out;
  for (const Key& k : p.keys()) {
    out.push_back(k.fingerprint());
  }
  return out;
}

RuntimeKey Runtime(const std::string& secret, uint32_t rpm = 0, uint32_t weight = 1) {
  RuntimeKey k;
  k.secret = secret;
  k.fingerprint = FingerprintOf(secret);
  k.rpm_limit = rpm;
  k.weight = weight;
  return k;
}

TEST(SnapshotBuilderTest, EmptyStateGivesTheConfigItself) {
  const RoutingSnapshot config = Load(kTwoProviders);
  const RoutingSnapshot effective = BuildEffectiveSnapshot(config, RuntimeState{});
  EXPECT_FALSE(SnapshotsDiffer(config, effective));
}

TEST(SnapshotBuilderTest, ProviderOverrideAppliesUntilTheYamlChangesThatValue) {
  RuntimeState state;
  state.providers["zai"].enabled = EnabledOverride{false, true};
  const RoutingSnapshot config = Load(kTwoProviders);
  EXPECT_FALSE(PruneRuntimeState(config, &state));
  EXPECT_FALSE(P(BuildEffectiveSnapshot(config, state), "zai").enabled());
  EXPECT_TRUE(P(BuildEffectiveSnapshot(config, state), "anthropic").enabled());

  // The YAML now says enabled: false itself: the override is a no-op and goes.
  std::string yaml(kTwoProviders);
  yaml.replace(yaml.find("weight: 7"), 9, "weight: 7\n    enabled: false");
  const RoutingSnapshot edited = Load(yaml);
  RuntimeState copy = state;
  EXPECT_TRUE(PruneRuntimeState(edited, &copy));
  EXPECT_TRUE(copy.empty());
}

TEST(SnapshotBuilderTest, ALaterYamlEditWinsOverAnOlderOverride) {
  // Set while the YAML said enabled: false; the YAML was then edited to true: newer, wins.
  RuntimeState state;
  state.providers["zai"].enabled = EnabledOverride{true, false};
  const RoutingSnapshot config = Load(kTwoProviders);
  EXPECT_TRUE(PruneRuntimeState(config, &state));
  EXPECT_TRUE(state.empty());
}

TEST(SnapshotBuilderTest, RemovedConfigKeyStaysRemovedWhileTheYamlHasIt) {
  const RoutingSnapshot config = Load(kTwoProviders);
  RuntimeState state;
  state.providers["anthropic"].removed_keys.insert(FingerprintOf("sk-config-a"));
  EXPECT_FALSE(PruneRuntimeState(config, &state));
  const RoutingSnapshot effective = BuildEffectiveSnapshot(config, state);
  EXPECT_THAT(Fingerprints(P(effective, "anthropic")), ElementsAre(FingerprintOf("sk-config-b")));

  // Once the YAML no longer has the key, the tombstone goes with it.
  std::string yaml(kTwoProviders);
  yaml.erase(yaml.find("      - key: sk-config-a"),
             std::string("      - key: sk-config-a\n        rpm_limit: 10\n").size());
  const RoutingSnapshot edited = Load(yaml);
  ASSERT_EQ(P(edited, "anthropic").keys_size(), 1);
  EXPECT_TRUE(PruneRuntimeState(edited, &state));
  EXPECT_TRUE(state.empty());
}

TEST(SnapshotBuilderTest, RuntimeKeysAreAppendedWithStableIds) {
  const RoutingSnapshot config = Load(kTwoProviders);
  RuntimeState state;
  state.providers["anthropic"].added_keys.push_back(Runtime("sk-runtime-1", 42, 3));
  const RoutingSnapshot effective = BuildEffectiveSnapshot(config, state);
  const Provider& p = P(effective, "anthropic");
  ASSERT_EQ(p.keys_size(), 3);
  const Key& k = p.keys(2);
  EXPECT_EQ(k.id(), "anthropic/" + FingerprintOf("sk-runtime-1"));
  EXPECT_EQ(k.fingerprint(), FingerprintOf("sk-runtime-1"));
  EXPECT_EQ(k.secret(), "sk-runtime-1");
  EXPECT_EQ(k.rpm_limit(), 42u);
  EXPECT_EQ(k.weight(), 3u);
  EXPECT_TRUE(k.enabled());
  // The config keys keep their ids.
  EXPECT_EQ(p.keys(0).id(), P(config, "anthropic").keys(0).id());
}

TEST(SnapshotBuilderTest, DerivedProviderWeightFollowsTheKeysExplicitOneStays) {
  const RoutingSnapshot config = Load(kTwoProviders);
  ASSERT_EQ(P(config, "anthropic").weight(), 2u);  // derived: two keys of weight 1
  RuntimeState state;
  state.providers["anthropic"].added_keys.push_back(Runtime("sk-runtime-1", 0, 3));
  state.providers["zai"].added_keys.push_back(Runtime("zai-key-2", 0, 5));
  const RoutingSnapshot effective = BuildEffectiveSnapshot(config, state);
  EXPECT_EQ(P(effective, "anthropic").weight(), 5u);
  EXPECT_EQ(P(effective, "zai").weight(), 7u);  // set in the YAML
}

TEST(SnapshotBuilderTest, YamlTakesOverARuntimeKeyItNowLists) {
  RuntimeState state;
  state.providers["anthropic"].added_keys.push_back(Runtime("sk-config-b"));
  const RoutingSnapshot config = Load(kTwoProviders);
  EXPECT_TRUE(PruneRuntimeState(config, &state));
  EXPECT_TRUE(state.empty());
  EXPECT_EQ(P(BuildEffectiveSnapshot(config, state), "anthropic").keys_size(), 2);
}

TEST(SnapshotBuilderTest, ProviderGoneFromYamlDropsAllItsState) {
  RuntimeState state;
  state.providers["gone"].enabled = EnabledOverride{false, true};
  state.providers["gone"].added_keys.push_back(Runtime("sk-x"));
  state.providers["anthropic"].key_enabled[FingerprintOf("sk-config-a")] = {false, true};
  EXPECT_TRUE(PruneRuntimeState(Load(kTwoProviders), &state));
  EXPECT_EQ(state.providers.count("gone"), 0u);
  EXPECT_EQ(state.providers.count("anthropic"), 1u);
}

TEST(SnapshotBuilderTest, KeyEnabledOverrideAppliesToConfigKeys) {
  const RoutingSnapshot config = Load(kTwoProviders);
  RuntimeState state;
  state.providers["anthropic"].key_enabled[FingerprintOf("sk-config-b")] = {false, true};
  EXPECT_FALSE(PruneRuntimeState(config, &state));
  const RoutingSnapshot effective = BuildEffectiveSnapshot(config, state);
  const Provider& p = P(effective, "anthropic");
  EXPECT_TRUE(p.keys(0).enabled());
  EXPECT_FALSE(p.keys(1).enabled());
  // Unknown key: dropped.
  state.providers["anthropic"].key_enabled["deadbeef"] = {false, true};
  EXPECT_TRUE(PruneRuntimeState(config, &state));
  EXPECT_EQ(state.providers["anthropic"].key_enabled.count("deadbeef"), 0u);
}

TEST(SnapshotBuilderTest, ConsistencyCheckRefusesWhatADataPlaneWouldReject) {
  const RoutingSnapshot config = Load(kTwoProviders);
  EXPECT_TRUE(CheckEffectiveSnapshot(config).ok());

  RuntimeState no_zai_key;
  no_zai_key.providers["zai"].removed_keys.insert(FingerprintOf("zai-key-1"));
  absl::Status st = CheckEffectiveSnapshot(BuildEffectiveSnapshot(config, no_zai_key));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("zai"));

  RuntimeState none_enabled;
  none_enabled.providers["zai"].enabled = EnabledOverride{false, true};
  none_enabled.providers["anthropic"].enabled = EnabledOverride{false, true};
  EXPECT_EQ(CheckEffectiveSnapshot(BuildEffectiveSnapshot(config, none_enabled)).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SnapshotBuilderTest, SnapshotsDifferIgnoresTheVersion) {
  RoutingSnapshot a = Load(kTwoProviders);
  RoutingSnapshot b = a;
  b.set_version(99);
  EXPECT_FALSE(SnapshotsDiffer(a, b));
  b.mutable_providers(0)->mutable_keys(0)->set_rpm_limit(11);
  EXPECT_TRUE(SnapshotsDiffer(a, b));
}

}  // namespace
}  // namespace ccrelay::controlplane
