#include "controlplane/management/users_service.h"

#include <map>

#include "controlplane/management/relay_keys.h"
#include "controlplane/snapshot/snapshot_builder.h"
#include "controlplane/snapshot/snapshot_cache.h"
#include "controlplane/state/config_store.h"
#include "dataplane/common/clock.h"
#include "dataplane/common/log.h"
#include "dataplane/common/secret.h"
#include "dataplane/common/status_macros.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane {
namespace {

namespace v1 = ccrelay::v1;
using common::F;
using common::Q;
using common::StrCat;

Spend SpendOfRow(const v1::UsageRow& row) {
  Spend s;
  s.usd = row.cost_usd();
  s.tokens = row.input_tokens() + row.output_tokens() + row.cache_read_tokens() +
             row.cache_creation_tokens();
  s.requests = row.requests();
  return s;
}

// Spend per user in [since, until) (one query for every user).
absl::StatusOr<std::map<std::string, Spend>> SpendByUser(TeamStore& store, int64_t since,
                                                         int64_t until, int64_t now) {
  v1::GetUsageRequest req;
  req.set_since_unix_ms(since);
  req.set_until_unix_ms(until);
  req.add_group_by("user");
  ASSIGN_OR_RETURN(v1::UsageReport report, store.Usage(req, now));
  std::map<std::string, Spend> out;
  for (const v1::UsageRow& row : report.rows()) {
    out[row.user()] = SpendOfRow(row);
  }
  return out;
}

}  // namespace

v1::UserInfo UserInfoOf(const StoredUser& user, const Spend& today, const Spend& month) {
  v1::UserInfo info;
  info.set_name(user.name);
  info.set_key_fingerprint(user.key_fingerprint);
  info.set_enabled(user.enabled);
  *info.mutable_policy() = user.policy;
  info.set_created_unix_ms(user.created_unix_ms);
  info.set_key_rotated_unix_ms(user.key_rotated_unix_ms);
  info.set_usd_today(today.usd);
  info.set_usd_this_month(month.usd);
  info.set_tokens_today(today.tokens);
  info.set_tokens_this_month(month.tokens);
  info.set_requests_this_month(month.requests);
  info.set_budget_state(BudgetState(user.policy.budget(), today.usd, today.tokens, month.usd,
                                    month.tokens));
  return info;
}

UsersService::UsersService(Deps deps) : d_(std::move(deps)) {}

absl::StatusOr<v1::Users> UsersService::LoadUsersSection(TeamStore& store) {
  ASSIGN_OR_RETURN(std::vector<StoredUser> users, store.ListUsers());
  if (users.empty()) {
    return v1::Users();
  }
  return BuildUsersSection(users);
}

absl::Status UsersService::PublishLocked() {
  ASSIGN_OR_RETURN(v1::Users users, LoadUsersSection(*d_.store));
  d_.config->SetUsers(std::move(users));
  return absl::OkStatus();
}

absl::StatusOr<StoredUser> UsersService::Find(std::string_view name) {
  absl::StatusOr<StoredUser> user = d_.store->GetUser(name);
  if (absl::IsNotFound(user.status())) {
    return absl::NotFoundError(StrCat("no user \"", name, "\""));
  }
  return user;
}

absl::StatusOr<v1::UserInfo> UsersService::Info(const StoredUser& user) {
  const int64_t now = d_.clock->UnixMillis();
  ASSIGN_OR_RETURN(Spend today, d_.store->SpendOf(user.name, UtcDayStartMs(now), now + 1));
  ASSIGN_OR_RETURN(Spend month, d_.store->SpendOf(user.name, UtcMonthStartMs(now), now + 1));
  return UserInfoOf(user, today, month);
}

absl::StatusOr<v1::NewUserKey> UsersService::AddUser(const v1::AddUserRequest& request) {
  RETURN_IF_ERROR(ValidateUserName(request.name()));
  RETURN_IF_ERROR(ValidatePolicy(request.policy(), *d_.cache->Current()));
  ASSIGN_OR_RETURN(std::string key, NewRelayKey());
  StoredUser user;
  user.name = request.name();
  user.key_sha256 = RelayKeySha256(key);
  user.key_fingerprint = common::FingerprintOf(key);
  user.enabled = true;
  user.policy = request.policy();
  user.created_unix_ms = d_.clock->UnixMillis();
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status st = d_.store->AddUser(user); !st.ok()) {
      if (absl::IsAlreadyExists(st)) {
        return absl::AlreadyExistsError(StrCat("user \"", user.name, "\" already exists"));
      }
      return st;
    }
    RETURN_IF_ERROR(PublishLocked());
  }
  CCR_LOG(kInfo, "user_added", Q("user", user.name), F("key", user.key_fingerprint));
  v1::NewUserKey out;
  *out.mutable_user() = UserInfoOf(user, Spend{}, Spend{});
  out.set_key(std::move(key));
  return out;
}

absl::StatusOr<std::vector<v1::UserInfo>> UsersService::ListUsers() {
  ASSIGN_OR_RETURN(std::vector<StoredUser> users, d_.store->ListUsers());
  std::vector<v1::UserInfo> out;
  if (users.empty()) {
    return out;
  }
  const int64_t now = d_.clock->UnixMillis();
  ASSIGN_OR_RETURN(auto today, SpendByUser(*d_.store, UtcDayStartMs(now), now + 1, now));
  ASSIGN_OR_RETURN(auto month, SpendByUser(*d_.store, UtcMonthStartMs(now), now + 1, now));
  out.reserve(users.size());
  for (const StoredUser& u : users) {
    out.push_back(UserInfoOf(u, today[u.name], month[u.name]));
  }
  return out;
}

absl::StatusOr<v1::UserInfo> UsersService::GetUser(std::string_view name) {
  ASSIGN_OR_RETURN(StoredUser user, Find(name));
  return Info(user);
}

absl::StatusOr<StoredUser> UsersService::Update(std::string_view name,
                                                const std::function<void(StoredUser*)>& change) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(StoredUser user, Find(name));
  change(&user);
  RETURN_IF_ERROR(d_.store->UpdateUser(user));
  RETURN_IF_ERROR(PublishLocked());
  return user;
}

absl::StatusOr<v1::UserInfo> UsersService::SetUserEnabled(std::string_view name, bool enabled) {
  ASSIGN_OR_RETURN(StoredUser user,
                   Update(name, [enabled](StoredUser* u) { u->enabled = enabled; }));
  CCR_LOG(kInfo, enabled ? "user_enabled" : "user_disabled", Q("user", user.name),
          F("key", user.key_fingerprint));
  return Info(user);
}

absl::StatusOr<v1::UserInfo> UsersService::SetUserPolicy(std::string_view name,
                                                         const v1::UserPolicy& policy) {
  RETURN_IF_ERROR(ValidatePolicy(policy, *d_.cache->Current()));
  ASSIGN_OR_RETURN(StoredUser user, Update(name, [&policy](StoredUser* u) { u->policy = policy; }));
  CCR_LOG(kInfo, "user_policy_set", Q("user", user.name));
  return Info(user);
}

absl::Status UsersService::RemoveUser(std::string_view name) {
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(Find(name).status());
    RETURN_IF_ERROR(d_.store->RemoveUser(name));
    RETURN_IF_ERROR(PublishLocked());
  }
  CCR_LOG(kInfo, "user_removed", Q("user", name));
  return absl::OkStatus();
}

absl::StatusOr<v1::NewUserKey> UsersService::RotateUserKey(std::string_view name) {
  ASSIGN_OR_RETURN(std::string key, NewRelayKey());
  std::string old_fingerprint;
  ASSIGN_OR_RETURN(StoredUser user, Update(name, [&](StoredUser* u) {
                     old_fingerprint = u->key_fingerprint;
                     u->key_sha256 = RelayKeySha256(key);
                     u->key_fingerprint = common::FingerprintOf(key);
                     u->key_rotated_unix_ms = d_.clock->UnixMillis();
                   }));
  CCR_LOG(kInfo, "user_key_rotated", Q("user", user.name), F("old_key", old_fingerprint),
          F("key", user.key_fingerprint));
  v1::NewUserKey out;
  ASSIGN_OR_RETURN(*out.mutable_user(), Info(user));
  out.set_key(std::move(key));
  return out;
}

absl::StatusOr<v1::UsageReport> UsersService::Usage(const v1::GetUsageRequest& request) {
  for (const std::string& g : request.group_by()) {
    if (g != "user" && g != "model" && g != "provider" && g != "key" && g != "day") {
      return absl::InvalidArgumentError(
          StrCat("unknown grouping \"", g, "\" (user, model, provider, key, day)"));
    }
  }
  if (request.until_unix_ms() != 0 && request.since_unix_ms() > request.until_unix_ms()) {
    return absl::InvalidArgumentError("since is after until");
  }
  return d_.store->Usage(request, d_.clock->UnixMillis());
}

}  // namespace ccrelay::controlplane
