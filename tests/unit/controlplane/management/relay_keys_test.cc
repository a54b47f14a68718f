// Teammates' names, relay keys, policies and budget states (controlplane/management/relay_keys),
// and the management roles (controlplane/stream/call_auth).
#include "controlplane/management/relay_keys.h"

#include <cmath>
#include <limits>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "proto/snapshot.pb.h"

#include "controlplane/stream/call_auth.h"
#include "dataplane/common/timestamps.h"

namespace ccrelay::controlplane {
namespace {

using ::testing::HasSubstr;
namespace v1 = ccrelay::v1;

TEST(UserNameTest, AcceptsLettersDigitsAndDotUnderscoreAtDash) {
  for (const char* ok : {"alice", "Bob", "a", "ci-bot_2", "alice@example.com", "x.y"}) {
    EXPECT_TRUE(ValidateUserName(ok).ok()) << ok;
  }
  EXPECT_TRUE(ValidateUserName(std::string(64, 'a')).ok());
}

TEST(UserNameTest, RefusesEmptyLongOddCharactersAndAnonymous) {
  EXPECT_THAT(ValidateUserName("").message(), HasSubstr("required"));
  EXPECT_THAT(ValidateUserName(std::string(65, 'a')).message(), HasSubstr("too long"));
  for (const char* bad : {"al ice", "a/b", "a:b", "é", "a\nb", "a,b", "a\"b"}) {
    EXPECT_THAT(ValidateUserName(bad).message(), HasSubstr("only letters")) << bad;
  }
  EXPECT_THAT(ValidateUserName("anonymous").message(), HasSubstr("reserved"));
  EXPECT_THAT(ValidateUserName("Anonymous").message(), HasSubstr("reserved"));
}

TEST(RelayKeyTest, IsCcrAndFortyThreeBase64UrlCharactersAndNeverRepeats) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<std::string> key = NewRelayKey();
    ASSERT_TRUE(key.ok()) << key.status();
    ASSERT_EQ(key->size(), 47u);
    EXPECT_EQ(key->substr(0, 4), "ccr_");
    EXPECT_EQ(key->find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 4),
              std::string::npos);
    EXPECT_TRUE(LooksLikeRelayKey(*key));
    EXPECT_TRUE(seen.insert(*key).second);
  }
}

TEST(RelayKeyTest, ShapeCheck) {
  EXPECT_FALSE(LooksLikeRelayKey(""));
  EXPECT_FALSE(LooksLikeRelayKey("sk-ant-api03-xxxx"));
  EXPECT_FALSE(LooksLikeRelayKey("ccr_" + std::string(42, 'a')));
  EXPECT_FALSE(LooksLikeRelayKey("ccr_" + std::string(42, 'a') + "="));
  EXPECT_TRUE(LooksLikeRelayKey("ccr_" + std::string(43, 'a')));
}

TEST(RelayKeyTest, Sha256IsThirtyTwoRawBytes) {
  const std::string h = RelayKeySha256("abc");
  ASSERT_EQ(h.size(), 32u);
  // SHA-256("abc") = ba7816bf...
  EXPECT_EQ(static_cast<unsigned char>(h[0]), 0xba);
  EXPECT_EQ(static_cast<unsigned char>(h[1]), 0x78);
  EXPECT_EQ(static_cast<unsigned char>(h[31]), 0xad);
  EXPECT_NE(RelayKeySha256("abd"), h);
}

v1::RoutingSnapshot Snapshot() {
  v1::RoutingSnapshot s;
  s.add_providers()->set_name("anthropic");
  s.add_providers()->set_name("zai");
  s.mutable_routing()->add_rules()->set_name("background");
  return s;
}

TEST(UserPolicyTest, EmptyAndFullPoliciesPass) {
  EXPECT_TRUE(ValidatePolicy(v1::UserPolicy(), Snapshot()).ok());
  v1::UserPolicy p;
  p.add_allowed_models("claude-*");
  p.add_allowed_models("*haiku*");
  p.add_allowed_providers("zai");
  p.add_allowed_rules("background");
  p.add_allowed_rules("");  // the default route
  p.set_rpm_limit(10);
  p.mutable_budget()->set_usd_per_month(50);
  p.mutable_budget()->set_tokens_per_day(1000000);
  p.mutable_budget()->set_soft_fraction(0.8);
  EXPECT_TRUE(ValidatePolicy(p, Snapshot()).ok());
}

TEST(UserPolicyTest, RefusesUnknownNamesBadGlobsAndBadBudgets) {
  v1::UserPolicy p;
  p.add_allowed_providers("openai");
  EXPECT_THAT(ValidatePolicy(p, Snapshot()).message(),
              HasSubstr("allowed provider \"openai\" is not a provider of the config"));
  p = v1::UserPolicy();
  p.add_allowed_rules("nightly");
  EXPECT_THAT(ValidatePolicy(p, Snapshot()).message(), HasSubstr("allowed rule \"nightly\""));
  p = v1::UserPolicy();
  p.add_allowed_models("");
  EXPECT_THAT(ValidatePolicy(p, Snapshot()).message(), HasSubstr("allowed model"));
  p = v1::UserPolicy();
  p.mutable_budget()->set_usd_per_day(-1);
  EXPECT_THAT(ValidatePolicy(p, Snapshot()).message(), HasSubstr("usd_per_day"));
  p = v1::UserPolicy();
  p.mutable_budget()->set_usd_per_month(std::numeric_limits<double>::quiet_NaN());
  EXPECT_THAT(ValidatePolicy(p, Snapshot()).message(), HasSubstr("usd_per_month"));
  for (double f : {1.0, 1.5, -0.1}) {
    p = v1::UserPolicy();
    p.mutable_budget()->set_soft_fraction(f);
    EXPECT_THAT(ValidatePolicy(p, Snapshot()).message(), HasSubstr("soft_fraction")) << f;
  }
}

TEST(UtcPeriodsTest, DayAndMonthBoundaries) {
  const int64_t t = *common::ParseRfc3339Ms("2026-12-31T23:59:59Z");
  EXPECT_EQ(common::FormatRfc3339(UtcDayStartMs(t)), "2026-12-31T00:00:00Z");
  EXPECT_EQ(common::FormatRfc3339(UtcMonthStartMs(t)), "2026-12-01T00:00:00Z");
  EXPECT_EQ(common::FormatRfc3339(UtcNextMonthStartMs(t)), "2027-01-01T00:00:00Z");
  const int64_t feb = *common::ParseRfc3339Ms("2028-02-29T12:00:00Z");
  EXPECT_EQ(common::FormatRfc3339(UtcNextMonthStartMs(feb)), "2028-03-01T00:00:00Z");
}

TEST(BudgetStateTest, NoneOkWarningExhausted) {
  v1::Budget b;
  EXPECT_EQ(BudgetState(b, 100, 100, 100, 100), "");
  b.set_usd_per_month(50);
  EXPECT_EQ(BudgetState(b, 1, 0, 10, 0), "ok");
  b.set_soft_fraction(0.8);
  EXPECT_EQ(BudgetState(b, 1, 0, 40, 0), "warning");
  EXPECT_EQ(BudgetState(b, 1, 0, 50, 0), "exhausted");
  b.set_tokens_per_day(1000);
  EXPECT_EQ(BudgetState(b, 0, 1000, 1, 1000), "exhausted");
}

// Roles: what each caller may call.
TEST(ManagementRolesTest, AdminMayCallEverything) {
  const Caller admin;
  for (Access a : {Access::kWrite, Access::kRead, Access::kSelf}) {
    EXPECT_TRUE(Permit(admin, a, "AddUser").ok());
  }
}

TEST(ManagementRolesTest, ReadOnlyMayReadButNotWrite) {
  const Caller ro{Role::kReadOnly, ""};
  EXPECT_TRUE(Permit(ro, Access::kRead, "ListUsers").ok());
  EXPECT_TRUE(Permit(ro, Access::kSelf, "GetUsage").ok());
  const absl::Status st = Permit(ro, Access::kWrite, "AddKey");
  EXPECT_TRUE(absl::IsPermissionDenied(st));
  EXPECT_THAT(st.message(), HasSubstr("read-only token may not call AddKey"));
}

TEST(ManagementRolesTest, RelayKeyMayOnlyAskWhoItIsAndItsUsage) {
  const Caller user{Role::kUser, "alice"};
  EXPECT_TRUE(Permit(user, Access::kSelf, "WhoAmI").ok());
  for (Access a : {Access::kWrite, Access::kRead}) {
    const absl::Status st = Permit(user, a, "ListUsers");
    EXPECT_TRUE(absl::IsPermissionDenied(st));
    EXPECT_THAT(st.message(), HasSubstr("only WhoAmI and GetUsage"));
  }
}

class CallAuthenticatorTest : public ::testing::Test {
 protected:
  CallAuthenticatorTest() {
    key_ = *NewRelayKey();
    disabled_key_ = *NewRelayKey();
    lookup_ = [this](std::string_view sha) -> std::optional<KeyOwner> {
      if (sha == RelayKeySha256(key_)) {
        return KeyOwner{"alice", true};
      }
      if (sha == RelayKeySha256(disabled_key_)) {
        return KeyOwner{"bob", false};
      }
      return std::nullopt;
    };
  }
  std::string key_;
  std::string disabled_key_;
  UserKeyLookup lookup_;
};

TEST_F(CallAuthenticatorTest, TokensGiveTheirRolesAndARelayKeyItsUser) {
  CallAuthenticator auth(common::Secret("admin-token"), common::Secret("ro-token"));
  auth.SetUserLookup(lookup_);
  EXPECT_EQ(auth.IdentifyBearer("admin-token")->role, Role::kAdmin);
  EXPECT_EQ(auth.IdentifyBearer("ro-token")->role, Role::kReadOnly);
  absl::StatusOr<Caller> user = auth.IdentifyBearer(key_);
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->role, Role::kUser);
  EXPECT_EQ(user->user, "alice");
  EXPECT_EQ(RoleName(user->role), "user");

  absl::StatusOr<Caller> disabled = auth.IdentifyBearer(disabled_key_);
  EXPECT_TRUE(absl::IsUnauthenticated(disabled.status()));
  EXPECT_THAT(disabled.status().message(), HasSubstr("relay key disabled"));
  EXPECT_THAT(disabled.status().message(), ::testing::Not(HasSubstr(disabled_key_)));
  EXPECT_TRUE(absl::IsUnauthenticated(auth.IdentifyBearer("nope").status()));
  EXPECT_TRUE(absl::IsUnauthenticated(auth.IdentifyBearer(std::nullopt).status()));
  // A key of the right shape that nobody has.
  EXPECT_TRUE(absl::IsUnauthenticated(auth.IdentifyBearer(*NewRelayKey()).status()));
}

TEST_F(CallAuthenticatorTest, WithoutTokensEveryoneIsAdminButARelayKeyIsItsUser) {
  CallAuthenticator auth;
  auth.SetUserLookup(lookup_);
  EXPECT_EQ(auth.IdentifyBearer(std::nullopt)->role, Role::kAdmin);
  EXPECT_EQ(auth.IdentifyBearer("anything")->role, Role::kAdmin);
  EXPECT_EQ(auth.IdentifyBearer(key_)->user, "alice");
  EXPECT_TRUE(absl::IsUnauthenticated(auth.IdentifyBearer(disabled_key_).status()));
}

}  // namespace
}  // namespace ccrelay::controlplane
