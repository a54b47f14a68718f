#include "dataplane/routing/strategies/least_busy.h"

#include <chrono>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/snapshot.pb.h"

#include "dataplane/routing/explanation.h"
#include "dataplane/routing/route_request.h"
#include "dataplane/routing/routing_table.h"
#include "tests/fakes/fake_clock.h"

namespace ccrelay::routing {
namespace {

using std::chrono::seconds;

// Providers "a" and "b", one key each (a second key for "a" when `a_keys` is 2).
v1::RoutingSnapshot TwoProviders(int a_keys) {
  v1::RoutingSnapshot s;
  s.set_version(1);
  s.mutable_server()->set_listen("127.0.0.1:0");
  for (const char* name : {"a", "b"}) {
    auto* p = s.add_providers();
    p->set_name(name);
    p->set_type("anthropic");
    p->set_enabled(true);
    p->set_base_url("http://127.0.0.1:9001");
    const int keys = std::string(name) == "a" ? a_keys : 1;
    p->set_weight(static_cast<uint32_t>(keys));  // the control plane's default: the keys' sum
    for (int k = 0; k < keys; ++k) {
      auto* key = p->add_keys();
      key->set_secret(std::string("sk-test-") + name + std::to_string(k));
      key->set_weight(1);
      key->set_enabled(true);
    }
  }
  s.mutable_routing()->set_strategy("least-busy");
  return s;
}

class LeastBusyTest : public ::testing::Test {
 protected:
  void Compile(int a_keys) {
    auto t = CompileRoutingTable(TwoProviders(a_keys), states_);
    ASSERT_TRUE(t.ok()) << t.status();
    table_ = *t;
  }
  void InFlight(uint32_t p, int64_t n) {
    table_->providers[p].state->in_flight.store(n, std::memory_order_relaxed);
  }
  // Takes key `k` of provider `p` out of headroom for `s` seconds (a 429 with retry-after).
  void Cool(uint32_t p, size_t k, int s) {
    state::UpstreamLimits l;
    l.Add("retry-after", std::to_string(s), clock_.UnixMillis());
    table_->providers[p].keys[k].state->OnRateLimited(l, clock_, seconds(10));
  }
  std::vector<uint32_t> Rank(Explanation* explain = nullptr) {
    RouteRequest r;
    r.model = "claude-sonnet-4-5";
    std::vector<uint32_t> out;
    strategy_.Rank(*table_, r, eligible_, &out, explain);
    return out;
  }

  testing::FakeClock clock_;
  state::StateRegistry states_;
  RoutingTableConstSharedPtr table_;
  std::vector<uint32_t> eligible_{0, 1};
  LeastBusyStrategy strategy_{&clock_};
};

TEST_F(LeastBusyTest, FewestInFlightPerUnitOfCapacityFirst) {
  Compile(1);
  InFlight(0, 1);
  InFlight(1, 2);
  EXPECT_EQ(Rank(), (std::vector<uint32_t>{0, 1}));
  InFlight(0, 3);
  EXPECT_EQ(Rank(), (std::vector<uint32_t>{1, 0}));
}

TEST_F(LeastBusyTest, AProviderWithMoreKeysTakesProportionallyMore) {
  Compile(2);  // a: weight 2 (two keys), b: weight 1
  InFlight(0, 3);
  InFlight(1, 2);  // a: 3 / 2 = 1.5 < b: 2 / 1
  EXPECT_EQ(Rank(), (std::vector<uint32_t>{0, 1}));
}

TEST_F(LeastBusyTest, KeysWithoutHeadroomTakeTheirShareOfCapacityAway) {
  Compile(2);
  InFlight(0, 3);
  InFlight(1, 2);
  // One of a's two keys is cooling: a's capacity is 1, 3 / 1 > 2 / 1.
  Cool(0, 0, 30);
  Explanation explain;
  EXPECT_EQ(Rank(&explain), (std::vector<uint32_t>{1, 0}));
  ASSERT_EQ(explain.ranked.size(), 2u);
  EXPECT_EQ(explain.ranked[0].capacity, 1);
  EXPECT_EQ(explain.ranked[1].capacity, 1);
  EXPECT_EQ(explain.ranked[1].in_flight, 3);
  // Both cooling: no capacity left, ranked after b although b is busier.
  Cool(0, 1, 30);
  InFlight(0, 0);
  InFlight(1, 9);
  explain = {};
  EXPECT_EQ(Rank(&explain), (std::vector<uint32_t>{1, 0}));
  EXPECT_EQ(explain.ranked[1].capacity, 0);
  EXPECT_EQ(explain.ranked[1].note, "no key with headroom");
  // The cooldown ends: a is back, first with nothing in flight.
  clock_.Advance(seconds(31));
  EXPECT_EQ(Rank(), (std::vector<uint32_t>{0, 1}));
}

}  // namespace
}  // namespace ccrelay::routing
