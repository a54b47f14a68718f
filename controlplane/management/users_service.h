#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "proto/management.pb.h"
#include "proto/team.pb.h"

#include "controlplane/store/team_store.h"

namespace ccrelay::common {
class Clock;
}

namespace ccrelay::controlplane {

class ConfigStore;
class SnapshotCache;

// The users side of the Management API (SPEC.md "Users and relay keys"): teammates in the
// TeamStore, their relay keys (generated here, returned once, kept as SHA-256), their policy,
// and their spend. Every change is written to the database and then published to every data
// plane in the snapshot (RoutingSnapshot.users), so a disabled, removed or rotated key stops
// working on every data plane as soon as it applies the new version. Thread-safe: changes are
// serialised (database write + publish).
class UsersService {
 public:
  struct Deps {
    TeamStore* store = nullptr;
    ConfigStore* config = nullptr;  // publishes the users (SetUsers)
    SnapshotCache* cache = nullptr; // the effective snapshot (names in a policy)
    const common::Clock* clock = nullptr;
  };
  explicit UsersService(Deps deps);

  // RoutingSnapshot.users from the database (at start, before the first snapshot).
  static absl::StatusOr<ccrelay::v1::Users> LoadUsersSection(TeamStore& store);

  absl::StatusOr<ccrelay::v1::NewUserKey> AddUser(const ccrelay::v1::AddUserRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<ccrelay::v1::UserInfo>> ListUsers();
  absl::StatusOr<ccrelay::v1::UserInfo> GetUser(std::string_view name);
  absl::StatusOr<ccrelay::v1::UserInfo> SetUserEnabled(std::string_view name, bool enabled)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<ccrelay::v1::UserInfo> SetUserPolicy(std::string_view name,
                                                      const ccrelay::v1::UserPolicy& policy)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status RemoveUser(std::string_view name) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<ccrelay::v1::NewUserKey> RotateUserKey(std::string_view name)
      ABSL_LOCKS_EXCLUDED(mu_);
  // GetUsage as asked (the caller's restriction to its own user is the Management service's).
  absl::StatusOr<ccrelay::v1::UsageReport> Usage(const ccrelay::v1::GetUsageRequest& request);

 private:
  // The user as stored, NotFound "no user NAME" otherwise.
  absl::StatusOr<StoredUser> Find(std::string_view name);
  // Find, `change`, write and publish, under the lock; the user as written.
  absl::StatusOr<StoredUser> Update(std::string_view name,
                                    const std::function<void(StoredUser*)>& change)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Reads every user back and publishes them.
  absl::Status PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The user with its spend this UTC day and month.
  absl::StatusOr<ccrelay::v1::UserInfo> Info(const StoredUser& user);

  Deps d_;
  absl::Mutex mu_;  // serialises changes: database write, then publish
};

// The UserInfo of `user` with its spend (no key, ever).
ccrelay::v1::UserInfo UserInfoOf(const StoredUser& user, const Spend& today, const Spend& month);

}  // namespace ccrelay::controlplane
