#include "controlplane/snapshot/snapshot_cache.h"

#include <vector>

#include "gtest/gtest.h"

#include "proto/snapshot.pb.h"

namespace ccrelay::controlplane {
namespace {

class RecordingWatcher : public SnapshotWatcher {
 public:
  // SnapshotWatcher
  void OnSnapshot(const SnapshotConstSharedPtr& snapshot) override {
    versions.push_back(snapshot->version());
  }
  std::vector<uint64_t> versions;
};

ccrelay::v1::RoutingSnapshot WithProvider(const std::string& name) {
  ccrelay::v1::RoutingSnapshot s;
  s.add_providers()->set_name(name);
  return s;
}

TEST(SnapshotCacheTest, VersionIncrementsOnlyOnEffectiveChange) {
  SnapshotCache cache;
  EXPECT_EQ(cache.SetSnapshot(WithProvider("a")), 1u);
  EXPECT_EQ(cache.SetSnapshot(WithProvider("a")), 1u);
  auto same_but_versioned = WithProvider("a");
  same_but_versioned.set_version(40);
  EXPECT_EQ(cache.SetSnapshot(same_but_versioned), 1u);
  EXPECT_EQ(cache.SetSnapshot(WithProvider("b")), 2u);
  EXPECT_EQ(cache.Current()->version(), 2u);
  EXPECT_EQ(cache.Current()->providers(0).name(), "b");
}

TEST(SnapshotCacheTest, WatcherGetsCurrentAtOnceThenEveryNewVersion) {
  SnapshotCache cache;
  cache.SetSnapshot(WithProvider("a"));
  RecordingWatcher w;
  cache.Watch(&w);
  cache.SetSnapshot(WithProvider("a"));  // no change: nothing sent
  cache.SetSnapshot(WithProvider("b"));
  cache.Cancel(&w);
  cache.SetSnapshot(WithProvider("c"));
  EXPECT_EQ(w.versions, (std::vector<uint64_t>{1, 2}));
}

TEST(SnapshotCacheTest, EnsureVersionAboveRepublishesOnlyWhenBehind) {
  SnapshotCache cache;
  cache.SetSnapshot(WithProvider("a"));
  RecordingWatcher w;
  cache.Watch(&w);
  EXPECT_EQ(cache.EnsureVersionAbove(1), 1u);  // a reconnect to the same control plane
  EXPECT_EQ(cache.EnsureVersionAbove(0), 1u);
  EXPECT_EQ(cache.EnsureVersionAbove(50), 51u);  // it saw 50 from an earlier run
  EXPECT_EQ(w.versions, (std::vector<uint64_t>{1, 51}));
  EXPECT_EQ(cache.Current()->providers(0).name(), "a");
}

TEST(SnapshotCacheTest, NodeHookAdjustsEachNodesCopyOnly) {
  SnapshotCache cache;
  cache.SetSnapshot(WithProvider("a"));
  cache.SetNodeHook([](const std::string& node, ccrelay::v1::RoutingSnapshot* s) {
    s->set_source("for " + node);
  });
  EXPECT_EQ(cache.ForNode("dp-1", *cache.Current()).source(), "for dp-1");
  EXPECT_EQ(cache.Current()->source(), "");
  EXPECT_EQ(cache.Republish(), 2u);
}

}  // namespace
}  // namespace ccrelay::controlplane
