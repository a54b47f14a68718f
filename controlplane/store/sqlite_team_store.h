#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "controlplane/store/team_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ccrelay::controlplane {

// TeamStore on SQLite (Debian's libsqlite3, C API): one connection behind a mutex, WAL,
// synchronous=FULL, prepared statements cached per SQL text for the connection's lifetime.
// Schema and migrations: SPEC.md "Usage database".
class SqliteTeamStore final : public TeamStore {
 public:
  // The schema version this code creates and understands (PRAGMA user_version).
  static constexpr int kSchemaVersion = 2;

  // See TeamStore::Open (which calls this).
  static absl::StatusOr<std::unique_ptr<SqliteTeamStore>> OpenSqlite(const std::string& path);
  ~SqliteTeamStore() override;

  SqliteTeamStore(const SqliteTeamStore&) = delete;
  SqliteTeamStore& operator=(const SqliteTeamStore&) = delete;

  // TeamStore
  absl::Status AddUser(const StoredUser& user) override;
  absl::StatusOr<std::vector<StoredUser>> ListUsers() override;
  absl::StatusOr<StoredUser> GetUser(std::string_view name) override;
  absl::Status UpdateUser(const StoredUser& user) override;
  absl::Status RemoveUser(std::string_view name) override;
  absl::StatusOr<uint64_t> RecordUsage(std::string_view source,
                                       const std::vector<ccrelay::v1::UsageRecord>& records,
                                       int64_t now_ms) override;
  absl::StatusOr<Spend> SpendOf(std::string_view user, int64_t since_ms,
                                int64_t until_ms) override;
  absl::StatusOr<ccrelay::v1::UsageReport> Usage(const ccrelay::v1::GetUsageRequest& request,
                                                 int64_t now_ms) override;

 private:
  SqliteTeamStore(std::string path, sqlite3* db);

  // Applies the connection settings and every pending migration.
  absl::Status Init() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // AddUser (insert) or UpdateUser.
  absl::Status WriteUser(const StoredUser& user, bool insert) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs statements without results (pragmas, BEGIN/COMMIT, schema).
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The cached statement for `sql` (prepared on first use), reset and unbound.
  absl::StatusOr<sqlite3_stmt*> Statement(const std::string& sql)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Steps a statement that returns no row (INSERT/UPDATE/DELETE).
  absl::Status StepDone(sqlite3_stmt* stmt, std::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A Status for the connection's last error, the code mapped from SQLite's.
  absl::Status Error(int rc, std::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, sqlite3_stmt*> statements_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ccrelay::controlplane
