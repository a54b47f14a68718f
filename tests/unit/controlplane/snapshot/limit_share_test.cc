#include "controlplane/snapshot/limit_share.h"

#include "gtest/gtest.h"

#include "proto/snapshot.pb.h"

namespace ccrelay::controlplane {
namespace {

TEST(LimitShareTest, EqualFloorShares) {
  EXPECT_EQ(LimitShare(6, 2), 3u);
  EXPECT_EQ(LimitShare(7, 2), 3u);
  EXPECT_EQ(LimitShare(60, 3), 20u);
  EXPECT_EQ(LimitShare(100000, 7), 14285u);
  EXPECT_EQ(LimitShare(4294967295u, 2), 2147483647u);
}

TEST(LimitShareTest, OneOrNoDataPlaneKeepsTheWholeLimit) {
  EXPECT_EQ(LimitShare(6, 1), 6u);
  EXPECT_EQ(LimitShare(6, 0), 6u);
}

TEST(LimitShareTest, UnlimitedStaysUnlimitedAndASmallLimitGivesAtLeastOne) {
  EXPECT_EQ(LimitShare(0, 3), 0u);
  EXPECT_EQ(LimitShare(2, 5), 1u);  // never 0: that would mean unlimited
  EXPECT_EQ(LimitShare(1, 2), 1u);
}

TEST(LimitShareTest, SharesNeverAddUpToMoreThanTheLimitWhenLimitIsAtLeastN) {
  for (uint32_t limit = 1; limit <= 200; ++limit) {
    for (size_t n = 1; n <= limit && n <= 20; ++n) {
      const uint64_t sum = uint64_t{LimitShare(limit, n)} * n;
      EXPECT_LE(sum, limit) << limit << " / " << n;
      EXPECT_GT(sum + n, limit) << "floor: less than one per data plane is lost";
    }
  }
}

ccrelay::v1::RoutingSnapshot TwoProviders() {
  ccrelay::v1::RoutingSnapshot s;
  ccrelay::v1::Provider* a = s.add_providers();
  a->set_name("a");
  ccrelay::v1::Key* k1 = a->add_keys();
  k1->set_id("a/1");
  k1->set_rpm_limit(6);
  k1->set_tpm_limit(100001);
  k1->set_itpm_limit(50000);
  k1->set_otpm_limit(9);
  ccrelay::v1::Key* k2 = a->add_keys();
  k2->set_id("a/2");  // unlimited
  ccrelay::v1::Provider* b = s.add_providers();
  b->set_name("b");
  ccrelay::v1::Key* k3 = b->add_keys();
  k3->set_id("b/1");
  k3->set_rpm_limit(1);
  return s;
}

TEST(DivideKeyLimitsTest, DividesEveryLimitOfEveryKey) {
  ccrelay::v1::RoutingSnapshot s = TwoProviders();
  DivideKeyLimits(2, &s);
  const ccrelay::v1::Key& k1 = s.providers(0).keys(0);
  EXPECT_EQ(k1.rpm_limit(), 3u);
  EXPECT_EQ(k1.tpm_limit(), 50000u);
  EXPECT_EQ(k1.itpm_limit(), 25000u);
  EXPECT_EQ(k1.otpm_limit(), 4u);
  const ccrelay::v1::Key& k2 = s.providers(0).keys(1);
  EXPECT_EQ(k2.rpm_limit(), 0u);
  EXPECT_EQ(k2.tpm_limit(), 0u);
  EXPECT_EQ(k2.itpm_limit(), 0u);
  EXPECT_EQ(k2.otpm_limit(), 0u);
  EXPECT_EQ(s.providers(1).keys(0).rpm_limit(), 1u);
  EXPECT_EQ(s.providers(0).name(), "a");
  EXPECT_EQ(k1.id(), "a/1");
}

TEST(DivideKeyLimitsTest, OneDataPlaneChangesNothing) {
  ccrelay::v1::RoutingSnapshot s = TwoProviders();
  DivideKeyLimits(1, &s);
  EXPECT_EQ(s.SerializeAsString(), TwoProviders().SerializeAsString());
  DivideKeyLimits(0, &s);
  EXPECT_EQ(s.SerializeAsString(), TwoProviders().SerializeAsString());
}

TEST(DivideKeyLimitsTest, HasKeyLimits) {
  ccrelay::v1::RoutingSnapshot s = TwoProviders();
  EXPECT_TRUE(HasKeyLimits(s));
  for (ccrelay::v1::Provider& p : *s.mutable_providers()) {
    for (ccrelay::v1::Key& k : *p.mutable_keys()) {
      k.set_rpm_limit(0);
      k.set_tpm_limit(0);
      k.set_itpm_limit(0);
    }
  }
  EXPECT_TRUE(HasKeyLimits(s));  // otpm of a/1 is left
  s.mutable_providers(0)->mutable_keys(0)->set_otpm_limit(0);
  EXPECT_FALSE(HasKeyLimits(s));
  EXPECT_FALSE(HasKeyLimits(ccrelay::v1::RoutingSnapshot()));
}

ccrelay::v1::RoutingSnapshot TwoUsers() {
  ccrelay::v1::RoutingSnapshot s = TwoProviders();
  ccrelay::v1::RelayUser* alice = s.mutable_users()->add_users();
  alice->set_name("alice");
  alice->mutable_policy()->set_rpm_limit(61);
  alice->mutable_policy()->set_tpm_limit(1);
  alice->mutable_policy()->mutable_budget()->set_usd_per_day(10);  // shared by grants, not here
  ccrelay::v1::RelayUser* bob = s.mutable_users()->add_users();
  bob->set_name("bob");  // unlimited
  return s;
}

TEST(DivideUserLimitsTest, DividesEveryUsersLimitsLikeKeyLimits) {
  ccrelay::v1::RoutingSnapshot s = TwoUsers();
  DivideUserLimits(3, &s);
  const ccrelay::v1::UserPolicy& alice = s.users().users(0).policy();
  EXPECT_EQ(alice.rpm_limit(), 20u);
  EXPECT_EQ(alice.tpm_limit(), 1u);  // never 0: that would mean unlimited
  EXPECT_EQ(alice.budget().usd_per_day(), 10.0);
  EXPECT_EQ(s.users().users(1).policy().rpm_limit(), 0u);
  EXPECT_EQ(s.users().users(1).policy().tpm_limit(), 0u);
  EXPECT_EQ(s.providers(0).keys(0).rpm_limit(), 6u);  // keys are DivideKeyLimits' business

  ccrelay::v1::RoutingSnapshot one = TwoUsers();
  DivideUserLimits(1, &one);
  EXPECT_EQ(one.SerializeAsString(), TwoUsers().SerializeAsString());
  ccrelay::v1::RoutingSnapshot none;
  DivideUserLimits(2, &none);
  EXPECT_FALSE(none.has_users());  // no users message appears from nowhere
}

TEST(DivideUserLimitsTest, DivideLimitsDoesKeysAndUsers) {
  ccrelay::v1::RoutingSnapshot s = TwoUsers();
  DivideLimits(2, &s);
  EXPECT_EQ(s.providers(0).keys(0).rpm_limit(), 3u);
  EXPECT_EQ(s.users().users(0).policy().rpm_limit(), 30u);
}

TEST(DivideUserLimitsTest, HasUserLimits) {
  ccrelay::v1::RoutingSnapshot s;
  EXPECT_FALSE(HasUserLimits(s));
  EXPECT_FALSE(HasLimits(s));
  ccrelay::v1::RelayUser* u = s.mutable_users()->add_users();
  u->mutable_policy()->mutable_budget()->set_usd_per_day(10);
  EXPECT_FALSE(HasUserLimits(s));  // a budget alone: grants, not snapshot shares
  u->mutable_policy()->set_tpm_limit(1000);
  EXPECT_TRUE(HasUserLimits(s));
  EXPECT_TRUE(HasLimits(s));  // no key limits, but the user's
  EXPECT_FALSE(HasKeyLimits(s));
}

}  // namespace
}  // namespace ccrelay::controlplane
