// UsersService: every change lands in the store and in the published snapshot (hashes only);
// the key is returned once and never again.
#include "controlplane/management/users_service.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "proto/snapshot.pb.h"

#include "controlplane/management/relay_keys.h"
#include "controlplane/snapshot/snapshot_cache.h"
#include "controlplane/state/config_store.h"
#include "dataplane/common/secret.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::controlplane {
namespace {

namespace v1 = ccrelay::v1;
using ::testing::HasSubstr;

// The store's contract, in memory (users only; usage: what a test sets).
class MemoryTeamStore final : public TeamStore {
 public:
  absl::Status AddUser(const StoredUser& user) override {
    if (!users_.emplace(user.name, user).second) {
      return absl::AlreadyExistsError("exists");
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<StoredUser>> ListUsers() override {
    std::vector<StoredUser> out;
    for (const auto& [name, u] : users_) {
      out.push_back(u);
    }
    return out;
  }
  absl::StatusOr<StoredUser> GetUser(std::string_view name) override {
    auto it = users_.find(std::string(name));
    if (it == users_.end()) {
      return absl::NotFoundError("not found");
    }
    return it->second;
  }
  absl::Status UpdateUser(const StoredUser& user) override {
    auto it = users_.find(user.name);
    if (it == users_.end()) {
      return absl::NotFoundError("not found");
    }
    it->second = user;
    return absl::OkStatus();
  }
  absl::Status RemoveUser(std::string_view name) override {
    return users_.erase(std::string(name)) == 1 ? absl::OkStatus()
                                                 : absl::NotFoundError("not found");
  }
  absl::StatusOr<uint64_t> RecordUsage(std::string_view, const std::vector<v1::UsageRecord>&,
                                       int64_t) override {
    return uint64_t{0};
  }
  absl::StatusOr<Spend> SpendOf(std::string_view user, int64_t, int64_t) override {
    return spend_[std::string(user)];
  }
  absl::StatusOr<v1::UsageReport> Usage(const v1::GetUsageRequest& request, int64_t) override {
    last_usage_ = request;
    v1::UsageReport r;
    for (const auto& [user, s] : spend_) {
      v1::UsageRow* row = r.add_rows();
      row->set_user(user);
      row->set_cost_usd(s.usd);
      row->set_input_tokens(s.tokens);
      row->set_requests(s.requests);
    }
    return r;
  }

  std::map<std::string, StoredUser> users_;
  std::map<std::string, Spend> spend_;
  v1::GetUsageRequest last_usage_;
};

constexpr std::string_view kConfig = R"(providers:
  - name: anthropic
    type: anthropic
    keys:
      - key: sk-config-a
  - name: backup
    type: anthropic
)";

class UsersServiceTest : public ::testing::Test {
 protected:
  UsersServiceTest() {
    ConfigStore::Options o;
    o.config_path = dir_.WriteFile("config.yaml", kConfig);
    o.env = [](std::string_view) { return std::optional<std::string>(); };
    o.clock = &clock_;
    auto config = ConfigStore::Create(o, &cache_);
    EXPECT_TRUE(config.ok()) << config.status();
    config_ = *std::move(config);
    UsersService::Deps d;
    d.store = &store_;
    d.config = config_.get();
    d.cache = &cache_;
    d.clock = &clock_;
    users_ = std::make_unique<UsersService>(d);
  }

  const v1::RelayUser* Published(const std::string& name) const {
    for (const v1::RelayUser& u : cache_.Current()->users().users()) {
      if (u.name() == name) {
        return &u;
      }
    }
    return nullptr;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  SnapshotCache cache_;
  MemoryTeamStore store_;
  std::unique_ptr<ConfigStore> config_;
  std::unique_ptr<UsersService> users_;
};

TEST_F(UsersServiceTest, AddStoresTheHashPublishesItAndReturnsTheKeyOnce) {
  EXPECT_FALSE(cache_.Current()->has_users());
  const uint64_t before = cache_.version();
  v1::AddUserRequest req;
  req.set_name("alice");
  req.mutable_policy()->add_allowed_providers("backup");
  absl::StatusOr<v1::NewUserKey> added = users_->AddUser(req);
  ASSERT_TRUE(added.ok()) << added.status();
  const std::string key = added->key();
  EXPECT_TRUE(LooksLikeRelayKey(key));
  EXPECT_EQ(added->user().key_fingerprint(), common::FingerprintOf(key));
  EXPECT_EQ(store_.users_["alice"].key_sha256, RelayKeySha256(key));

  EXPECT_GT(cache_.version(), before);
  const v1::RelayUser* pub = Published("alice");
  ASSERT_NE(pub, nullptr);
  EXPECT_EQ(pub->key_sha256(), RelayKeySha256(key));
  EXPECT_TRUE(pub->enabled());
  EXPECT_EQ(pub->policy().allowed_providers(0), "backup");
  EXPECT_EQ(cache_.Current()->users().key_header(), "x-cc-relay-key");
  EXPECT_TRUE(cache_.Current()->users().required());
  // The snapshot holds no key, only its hash.
  EXPECT_EQ(cache_.Current()->SerializeAsString().find(key), std::string::npos);

  // Listings never show it.
  auto list = users_->ListUsers();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().SerializeAsString().find(key), std::string::npos);
  EXPECT_EQ(users_->GetUser("alice")->SerializeAsString().find(key), std::string::npos);

  EXPECT_TRUE(absl::IsAlreadyExists(users_->AddUser(req).status()));
}

TEST_F(UsersServiceTest, RefusesBadNamesAndPolicies) {
  v1::AddUserRequest req;
  req.set_name("anonymous");
  EXPECT_TRUE(absl::IsInvalidArgument(users_->AddUser(req).status()));
  req.set_name("carol");
  req.mutable_policy()->add_allowed_providers("nope");
  EXPECT_THAT(users_->AddUser(req).status().message(), HasSubstr("\"nope\""));
  EXPECT_TRUE(store_.users_.empty());
}

TEST_F(UsersServiceTest, DisableRotateRemoveRepublish) {
  v1::AddUserRequest req;
  req.set_name("bob");
  const std::string key = users_->AddUser(req)->key();

  ASSERT_TRUE(users_->SetUserEnabled("bob", false).ok());
  EXPECT_FALSE(Published("bob")->enabled());
  ASSERT_TRUE(users_->SetUserEnabled("bob", true).ok());
  EXPECT_TRUE(Published("bob")->enabled());

  absl::StatusOr<v1::NewUserKey> rotated = users_->RotateUserKey("bob");
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_NE(rotated->key(), key);
  EXPECT_EQ(Published("bob")->key_sha256(), RelayKeySha256(rotated->key()));
  EXPECT_GT(rotated->user().key_rotated_unix_ms(), 0);

  v1::UserPolicy policy;
  policy.set_rpm_limit(5);
  ASSERT_TRUE(users_->SetUserPolicy("bob", policy).ok());
  EXPECT_EQ(Published("bob")->policy().rpm_limit(), 5u);

  ASSERT_TRUE(users_->RemoveUser("bob").ok());
  EXPECT_FALSE(cache_.Current()->has_users());
  EXPECT_THAT(users_->RemoveUser("bob").message(), HasSubstr("no user \"bob\""));
  EXPECT_TRUE(absl::IsNotFound(users_->GetUser("bob").status()));
}

TEST_F(UsersServiceTest, UsersSurviveAConfigReload) {
  v1::AddUserRequest req;
  req.set_name("dora");
  ASSERT_TRUE(users_->AddUser(req).ok());
  std::ofstream(dir_.path() + "/config.yaml", std::ios::trunc)
      << kConfig << "logging:\n  level: debug\n";
  ASSERT_TRUE(config_->Reload().ok());
  EXPECT_EQ(cache_.Current()->logging().level(), "debug");
  EXPECT_NE(Published("dora"), nullptr);
}

TEST_F(UsersServiceTest, SpendAndBudgetState) {
  v1::AddUserRequest req;
  req.set_name("erin");
  req.mutable_policy()->mutable_budget()->set_usd_per_month(10);
  req.mutable_policy()->mutable_budget()->set_soft_fraction(0.5);
  ASSERT_TRUE(users_->AddUser(req).ok());
  store_.spend_["erin"] = Spend{6.0, 1234, 3};
  absl::StatusOr<v1::UserInfo> info = users_->GetUser("erin");
  ASSERT_TRUE(info.ok());
  EXPECT_DOUBLE_EQ(info->usd_this_month(), 6.0);
  EXPECT_EQ(info->tokens_this_month(), 1234u);
  EXPECT_EQ(info->requests_this_month(), 3u);
  EXPECT_EQ(info->budget_state(), "warning");
  auto list = users_->ListUsers();
  ASSERT_TRUE(list.ok());
  EXPECT_DOUBLE_EQ(list->front().usd_today(), 6.0);
  EXPECT_EQ(list->front().budget_state(), "warning");
}

TEST_F(UsersServiceTest, UsageRefusesUnknownGroupings) {
  v1::GetUsageRequest req;
  req.add_group_by("colour");
  EXPECT_TRUE(absl::IsInvalidArgument(users_->Usage(req).status()));
  req.clear_group_by();
  req.add_group_by("model");
  EXPECT_TRUE(users_->Usage(req).ok());
  EXPECT_EQ(store_.last_usage_.group_by(0), "model");
}

}  // namespace
}  // namespace ccrelay::controlplane
