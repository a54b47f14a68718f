#include "controlplane/store/sqlite_team_store.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <limits>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/functional/function_ref.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

#include "dataplane/common/status_macros.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane {
namespace {

using common::StrCat;

constexpr const char* kMemory = ":memory:";

// How long a statement waits for a lock held by another connection (another process on the
// same file) before failing with Unavailable.
constexpr int kBusyTimeoutMs = 5000;

// Migration N (1-based) takes the schema from version N-1 to N. Append only: a released
// migration is never edited (a database that ran it would differ from a fresh one).
constexpr const char* kMigrations[] = {
    // 1: teammates and one row per finished request.
    R"sql(
CREATE TABLE users (
  name TEXT PRIMARY KEY NOT NULL,
  key_sha256 BLOB NOT NULL UNIQUE,
  key_fingerprint TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  policy BLOB NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  key_rotated_unix_ms INTEGER NOT NULL
);
CREATE TABLE usage (
  id INTEGER PRIMARY KEY,
  request_id TEXT UNIQUE,
  user TEXT NOT NULL,
  user_key_fingerprint TEXT NOT NULL,
  provider TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  model TEXT NOT NULL,
  status INTEGER NOT NULL,
  unix_ms INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL,
  cache_creation_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL,
  duration_ms INTEGER NOT NULL
);
CREATE INDEX usage_user_time ON usage (user, unix_ms);
CREATE INDEX usage_time ON usage (unix_ms);
)sql",
    // 2: usage summed per UTC minute (one row per user, user key, provider, key, model, status
    // and minute; a row a request cost serve a third of its CPU), the rows of 1 folded in; the
    // sources' committed seqs, by which a resent record is recognised.
    R"sql(
CREATE TABLE usage_minutes (
  unix_ms INTEGER NOT NULL,
  user TEXT NOT NULL,
  user_key_fingerprint TEXT NOT NULL,
  provider TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  model TEXT NOT NULL,
  status INTEGER NOT NULL,
  requests INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL,
  cache_creation_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL,
  duration_ms INTEGER NOT NULL,
  PRIMARY KEY (unix_ms, user, user_key_fingerprint, provider, key_fingerprint, model, status)
) WITHOUT ROWID;
CREATE INDEX usage_minutes_user_time ON usage_minutes (user, unix_ms);
INSERT INTO usage_minutes
  SELECT unix_ms - unix_ms % 60000, user, user_key_fingerprint, provider, key_fingerprint, model,
         status, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens),
         SUM(cache_creation_tokens), SUM(cost_usd), SUM(duration_ms)
  FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7;
DROP TABLE usage;
CREATE TABLE usage_sources (
  source TEXT PRIMARY KEY NOT NULL,
  committed_seq INTEGER NOT NULL,
  updated_unix_ms INTEGER NOT NULL
);
)sql",
};

// A source (one data plane process) not heard from for this long is forgotten: its records
// could only come back from a journal that lives as long as the process.
constexpr int64_t kSourceRetentionMs = int64_t{30} * 24 * 3600 * 1000;
static_assert(std::size(kMigrations) == SqliteTeamStore::kSchemaVersion);

constexpr const char* kUserColumns =
    "name, key_sha256, key_fingerprint, enabled, policy, created_unix_ms, key_rotated_unix_ms";

// GetUsageRequest.group_by names and the SQL expression of each.
struct GroupColumn {
  std::string_view name;
  const char* expr;
};
constexpr GroupColumn kGroupColumns[] = {
    {"user", "user"},
    {"model", "model"},
    {"provider", "provider"},
    {"key", "key_fingerprint"},
    {"day", "strftime('%Y-%m-%d', unix_ms / 1000, 'unixepoch')"},
};

// The aggregate columns of a usage row, in UsageRow order (ReadAggregates reads them).
constexpr const char* kAggregates =
    "SUM(requests), SUM(CASE WHEN status >= 400 THEN requests ELSE 0 END), SUM(input_tokens), "
    "SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_creation_tokens), SUM(cost_usd)";

// Thread-safe, unlike strerror.
std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

absl::StatusCode CodeOf(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      return absl::StatusCode::kAlreadyExists;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return absl::StatusCode::kUnavailable;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kInternal;
  }
}

int64_t ToInt64(uint64_t v) {
  return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(v);
}

uint64_t ToUint64(int64_t v) { return v < 0 ? 0 : static_cast<uint64_t>(v); }

// Resets a cached statement (ending its implicit read transaction: an unreset SELECT would pin
// the WAL) and drops its bindings, on every exit of the scope that used it.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementUse() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

// Binds parameters 1, 2, ... in order; the first failure is kept in rc(). Text and blobs are
// bound without a copy (SQLITE_STATIC): they must outlive the step, which they do here.
class Binder {
 public:
  explicit Binder(sqlite3_stmt* stmt) : stmt_(stmt) {}

  Binder& Text(std::string_view s) {
    // A null pointer would bind NULL; "" keeps an empty text a text.
    return Check(sqlite3_bind_text(stmt_, next_++, s.empty() ? "" : s.data(),
                                   static_cast<int>(s.size()), SQLITE_STATIC));
  }
  Binder& Blob(std::string_view s) {
    if (s.empty()) {
      return Check(sqlite3_bind_zeroblob(stmt_, next_++, 0));
    }
    return Check(
        sqlite3_bind_blob(stmt_, next_++, s.data(), static_cast<int>(s.size()), SQLITE_STATIC));
  }
  Binder& Int(int64_t v) { return Check(sqlite3_bind_int64(stmt_, next_++, v)); }
  Binder& Real(double v) { return Check(sqlite3_bind_double(stmt_, next_++, v)); }
  Binder& Null() { return Check(sqlite3_bind_null(stmt_, next_++)); }

  int rc() const { return rc_; }

 private:
  Binder& Check(int rc) {
    if (rc_ == SQLITE_OK) {
      rc_ = rc;
    }
    return *this;
  }

  sqlite3_stmt* stmt_;
  int next_ = 1;
  int rc_ = SQLITE_OK;
};

std::string ColumnText(sqlite3_stmt* stmt, int col) {
  const unsigned char* p = sqlite3_column_text(stmt, col);
  if (p == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt, col)));
}

std::string ColumnBlob(sqlite3_stmt* stmt, int col) {
  const void* p = sqlite3_column_blob(stmt, col);
  if (p == nullptr) {
    return {};
  }
  return std::string(static_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt, col)));
}

// A user row selected as kUserColumns.
absl::StatusOr<StoredUser> ReadUser(sqlite3_stmt* stmt) {
  StoredUser user;
  user.name = ColumnText(stmt, 0);
  user.key_sha256 = ColumnBlob(stmt, 1);
  user.key_fingerprint = ColumnText(stmt, 2);
  user.enabled = sqlite3_column_int64(stmt, 3) != 0;
  const void* policy = sqlite3_column_blob(stmt, 4);
  int policy_size = sqlite3_column_bytes(stmt, 4);
  if (policy_size > 0 && !user.policy.ParseFromArray(policy, policy_size)) {
    return absl::DataLossError(
        StrCat("the stored policy of user ", user.name, " is not a valid UserPolicy"));
  }
  user.created_unix_ms = sqlite3_column_int64(stmt, 5);
  user.key_rotated_unix_ms = sqlite3_column_int64(stmt, 6);
  return user;
}

// The kAggregates columns starting at `col`.
void ReadAggregates(sqlite3_stmt* stmt, int col, ccrelay::v1::UsageRow* row) {
  row->set_requests(ToUint64(sqlite3_column_int64(stmt, col)));
  row->set_errors(ToUint64(sqlite3_column_int64(stmt, col + 1)));
  row->set_input_tokens(ToUint64(sqlite3_column_int64(stmt, col + 2)));
  row->set_output_tokens(ToUint64(sqlite3_column_int64(stmt, col + 3)));
  row->set_cache_read_tokens(ToUint64(sqlite3_column_int64(stmt, col + 4)));
  row->set_cache_creation_tokens(ToUint64(sqlite3_column_int64(stmt, col + 5)));
  row->set_cost_usd(sqlite3_column_double(stmt, col + 6));
}

void SetGroupField(std::string_view name, std::string value, ccrelay::v1::UsageRow* row) {
  if (name == "user") {
    row->set_user(std::move(value));
  } else if (name == "model") {
    row->set_model(std::move(value));
  } else if (name == "provider") {
    row->set_provider(std::move(value));
  } else if (name == "key") {
    row->set_key_fingerprint(std::move(value));
  } else {
    row->set_day(std::move(value));
  }
}

int64_t StartOfUtcMonth(int64_t now_ms) {
  absl::TimeZone utc = absl::UTCTimeZone();
  absl::CivilMonth month = absl::ToCivilMonth(absl::FromUnixMillis(now_ms), utc);
  return absl::ToUnixMillis(absl::FromCivil(month, utc));
}

// Creates the missing directories above `path` (mode 0700: the database is private) and the
// file itself with mode 0600 if it does not exist yet; SQLite gives its -wal and -shm files the
// database file's mode.
absl::Status CreatePrivateFile(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::filesystem::path prefix;
    for (const auto& part : parent) {
      prefix /= part;
      std::error_code ec;
      if (std::filesystem::is_directory(prefix, ec)) {
        continue;
      }
      if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
        return absl::FailedPreconditionError(StrCat("cannot create the directory ",
                                                    prefix.string(), " for the database: ",
                                                    ErrnoText(errno)));
      }
    }
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(
        StrCat("cannot create the database file ", path, ": ", ErrnoText(errno)));
  }
  ::close(fd);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TeamStore>> TeamStore::Open(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteTeamStore> store, SqliteTeamStore::OpenSqlite(path));
  return std::unique_ptr<TeamStore>(std::move(store));
}

absl::StatusOr<std::unique_ptr<SqliteTeamStore>> SqliteTeamStore::OpenSqlite(
    const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("the database path is empty");
  }
  if (path != kMemory) {
    RETURN_IF_ERROR(CreatePrivateFile(path));
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::Status(CodeOf(rc), StrCat("cannot open the database ", path, ": ", message));
  }
  sqlite3_extended_result_codes(db, 1);
  std::unique_ptr<SqliteTeamStore> store(new SqliteTeamStore(path, db));
  {
    absl::MutexLock lock(&store->mu_);
    RETURN_IF_ERROR(store->Init());
  }
  return store;
}

SqliteTeamStore::SqliteTeamStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}

SqliteTeamStore::~SqliteTeamStore() {
  absl::MutexLock lock(&mu_);
  for (auto& [sql, stmt] : statements_) {
    sqlite3_finalize(stmt);
  }
  statements_.clear();
  // The last connection to close checkpoints the WAL into the database file.
  sqlite3_close(db_);
}

absl::Status SqliteTeamStore::Init() {
  if (int rc = sqlite3_busy_timeout(db_, kBusyTimeoutMs); rc != SQLITE_OK) {
    return Error(rc, "busy_timeout");
  }
  RETURN_IF_ERROR(Exec("PRAGMA foreign_keys = ON"));
  if (path_ != kMemory) {
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Statement("PRAGMA journal_mode = WAL"));
    StatementUse use(stmt);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
      return Error(rc, "setting journal_mode=WAL");
    }
    std::string mode = ColumnText(stmt, 0);
    if (mode != "wal") {
      return absl::FailedPreconditionError(StrCat("database ", path_,
                                                  ": cannot use write-ahead logging (journal "
                                                  "mode stays ",
                                                  mode, ")"));
    }
  }
  RETURN_IF_ERROR(Exec("PRAGMA synchronous = FULL"));
  // Index pages are read through a memory map and a 16 MiB page cache instead of a pread(2)
  // each.
  RETURN_IF_ERROR(Exec("PRAGMA mmap_size = 268435456"));
  RETURN_IF_ERROR(Exec("PRAGMA cache_size = -16384"));
  RETURN_IF_ERROR(Migrate());
  ASSIGN_OR_RETURN(sqlite3_stmt * prune,
                   Statement("DELETE FROM usage_sources WHERE updated_unix_ms < ?"));
  StatementUse use(prune);
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  Binder bind(prune);
  if (bind.Int(now_ms - kSourceRetentionMs).rc() != SQLITE_OK) {
    return Error(bind.rc(), "binding the usage sources' retention");
  }
  return StepDone(prune, "forgetting old usage sources");
}

absl::Status SqliteTeamStore::Migrate() {
  // BEGIN IMMEDIATE takes the write lock first, so two processes opening the same new file do
  // not both migrate; the version is read inside the transaction.
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto apply = [&]() -> absl::Status {
    int64_t version = 0;
    {
      ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Statement("PRAGMA user_version"));
      StatementUse use(stmt);
      int rc = sqlite3_step(stmt);
      if (rc != SQLITE_ROW) {
        return Error(rc, "reading the schema version");
      }
      version = sqlite3_column_int64(stmt, 0);
    }
    if (version > kSchemaVersion) {
      return absl::FailedPreconditionError(
          StrCat("database ", path_, " has schema version ", version,
                 ", newer than this cc-relay knows (up to ", kSchemaVersion,
                 "): it was written by a newer cc-relay; run that version or use another --db"));
    }
    for (int64_t v = version; v < kSchemaVersion; ++v) {
      if (int rc = sqlite3_exec(db_, kMigrations[v], nullptr, nullptr, nullptr); rc != SQLITE_OK) {
        return Error(rc, StrCat("migration ", v + 1));
      }
    }
    if (version < kSchemaVersion) {
      RETURN_IF_ERROR(Exec(StrCat("PRAGMA user_version = ", kSchemaVersion).c_str()));
    }
    return absl::OkStatus();
  };
  absl::Status status = apply();
  if (!status.ok()) {
    Exec("ROLLBACK").IgnoreError();
    return status;
  }
  status = Exec("COMMIT");
  if (!status.ok()) {
    Exec("ROLLBACK").IgnoreError();
  }
  return status;
}

absl::Status SqliteTeamStore::Exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return Error(rc, sql);
  }
  return absl::OkStatus();
}

absl::StatusOr<sqlite3_stmt*> SqliteTeamStore::Statement(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) {
    return it->second;
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size() + 1),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return Error(rc, "preparing a statement");
  }
  statements_.emplace(sql, stmt);
  return stmt;
}

absl::Status SqliteTeamStore::StepDone(sqlite3_stmt* stmt, std::string_view what) {
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE) {
    return Error(rc, what);
  }
  return absl::OkStatus();
}

absl::Status SqliteTeamStore::Error(int rc, std::string_view what) {
  // The message names tables and columns, never a bound value (no key hash, no key).
  return absl::Status(CodeOf(rc), StrCat("database ", path_, ": ", what, ": ",
                                         db_ != nullptr ? sqlite3_errmsg(db_)
                                                        : sqlite3_errstr(rc)));
}

absl::Status SqliteTeamStore::AddUser(const StoredUser& user) {
  return WriteUser(user, /*insert=*/true);
}

absl::Status SqliteTeamStore::UpdateUser(const StoredUser& user) {
  return WriteUser(user, /*insert=*/false);
}

absl::Status SqliteTeamStore::WriteUser(const StoredUser& user, bool insert) {
  if (user.name.empty()) {
    return absl::InvalidArgumentError("a user needs a name");
  }
  if (user.key_sha256.size() != 32) {
    return absl::InvalidArgumentError(
        StrCat("user ", user.name, ": key_sha256 must be 32 bytes (a SHA-256)"));
  }
  std::string policy = user.policy.SerializeAsString();
  absl::MutexLock lock(&mu_);
  // Both bind the kUserColumns in their order.
  ASSIGN_OR_RETURN(
      sqlite3_stmt * stmt,
      Statement(insert ? StrCat("INSERT INTO users (", kUserColumns,
                                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                       : std::string("UPDATE users SET key_sha256 = ?2, key_fingerprint = ?3, "
                                     "enabled = ?4, policy = ?5, created_unix_ms = ?6, "
                                     "key_rotated_unix_ms = ?7 WHERE name = ?1")));
  StatementUse use(stmt);
  Binder bind(stmt);
  bind.Text(user.name)
      .Blob(user.key_sha256)
      .Text(user.key_fingerprint)
      .Int(user.enabled ? 1 : 0)
      .Blob(policy)
      .Int(user.created_unix_ms)
      .Int(user.key_rotated_unix_ms);
  if (bind.rc() != SQLITE_OK) {
    return Error(bind.rc(), "binding a user");
  }
  int rc = sqlite3_step(stmt);
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    if (insert &&
        std::string_view(sqlite3_errmsg(db_)).find("users.name") != std::string_view::npos) {
      return absl::AlreadyExistsError(StrCat("user ", user.name, " already exists"));
    }
    return absl::AlreadyExistsError(
        StrCat("user ", user.name, ": another user has the same relay key"));
  }
  if (rc != SQLITE_DONE) {
    return Error(rc, insert ? "adding a user" : "updating a user");
  }
  if (!insert && sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(StrCat("no user named ", user.name));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StoredUser>> SqliteTeamStore::ListUsers() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt,
                   Statement(StrCat("SELECT ", kUserColumns, " FROM users ORDER BY name")));
  StatementUse use(stmt);
  std::vector<StoredUser> users;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    ASSIGN_OR_RETURN(StoredUser user, ReadUser(stmt));
    users.push_back(std::move(user));
  }
  if (rc != SQLITE_DONE) {
    return Error(rc, "listing users");
  }
  return users;
}

absl::StatusOr<StoredUser> SqliteTeamStore::GetUser(std::string_view name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt,
                   Statement(StrCat("SELECT ", kUserColumns, " FROM users WHERE name = ?")));
  StatementUse use(stmt);
  Binder bind(stmt);
  if (bind.Text(name).rc() != SQLITE_OK) {
    return Error(bind.rc(), "binding a user name");
  }
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(StrCat("no user named ", name));
  }
  if (rc != SQLITE_ROW) {
    return Error(rc, "reading a user");
  }
  return ReadUser(stmt);
}

absl::Status SqliteTeamStore::RemoveUser(std::string_view name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Statement("DELETE FROM users WHERE name = ?"));
  StatementUse use(stmt);
  Binder bind(stmt);
  if (bind.Text(name).rc() != SQLITE_OK) {
    return Error(bind.rc(), "binding a user name");
  }
  RETURN_IF_ERROR(StepDone(stmt, "removing a user"));
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(StrCat("no user named ", name));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> SqliteTeamStore::RecordUsage(
    std::string_view source, const std::vector<ccrelay::v1::UsageRecord>& records, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * read_source,
                   Statement("SELECT committed_seq FROM usage_sources WHERE source = ?"));
  ASSIGN_OR_RETURN(
      sqlite3_stmt * add,
      Statement("INSERT INTO usage_minutes (unix_ms, user, user_key_fingerprint, provider, "
                "key_fingerprint, model, status, requests, input_tokens, output_tokens, "
                "cache_read_tokens, cache_creation_tokens, cost_usd, duration_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (unix_ms, user, user_key_fingerprint, provider, key_fingerprint, "
                "model, status) DO UPDATE SET requests = requests + excluded.requests, "
                "input_tokens = input_tokens + excluded.input_tokens, "
                "output_tokens = output_tokens + excluded.output_tokens, "
                "cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, "
                "cache_creation_tokens = cache_creation_tokens + excluded.cache_creation_tokens, "
                "cost_usd = cost_usd + excluded.cost_usd, "
                "duration_ms = duration_ms + excluded.duration_ms"));
  ASSIGN_OR_RETURN(sqlite3_stmt * write_source,
                   Statement("INSERT INTO usage_sources (source, committed_seq, updated_unix_ms) "
                             "VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET "
                             "committed_seq = MAX(committed_seq, excluded.committed_seq), "
                             "updated_unix_ms = excluded.updated_unix_ms"));
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto apply = [&]() -> absl::StatusOr<uint64_t> {
    uint64_t before = 0;
    {
      StatementUse use(read_source);
      Binder bind(read_source);
      if (bind.Text(source).rc() != SQLITE_OK) {
        return Error(bind.rc(), "binding a usage source");
      }
      const int rc = sqlite3_step(read_source);
      if (rc == SQLITE_ROW) {
        before = ToUint64(sqlite3_column_int64(read_source, 0));
      } else if (rc != SQLITE_DONE) {
        return Error(rc, "reading a usage source");
      }
    }
    uint64_t highest = before;
    {
      StatementUse use(add);
      for (const auto& r : records) {
        if (r.seq() <= before) {
          continue;  // committed before: a resend after a lost ack
        }
        highest = std::max(highest, r.seq());
        Binder bind(add);
        bind.Int(r.unix_ms())
            .Text(r.user())
            .Text(r.user_key_fingerprint())
            .Text(r.provider())
            .Text(r.key_fingerprint())
            .Text(r.model())
            .Int(r.status())
            .Int(ToInt64(r.requests()))
            .Int(ToInt64(r.input_tokens()))
            .Int(ToInt64(r.output_tokens()))
            .Int(ToInt64(r.cache_read_tokens()))
            .Int(ToInt64(r.cache_creation_tokens()))
            .Real(r.cost_usd())
            .Int(r.duration_ms());
        if (bind.rc() != SQLITE_OK) {
          return Error(bind.rc(), "binding a usage record");
        }
        RETURN_IF_ERROR(StepDone(add, "recording usage"));
        sqlite3_reset(add);
      }
    }
    StatementUse use(write_source);
    Binder bind(write_source);
    if (bind.Text(source).Int(ToInt64(highest)).Int(now_ms).rc() != SQLITE_OK) {
      return Error(bind.rc(), "binding a usage source");
    }
    RETURN_IF_ERROR(StepDone(write_source, "recording a usage source"));
    return before;
  };
  absl::StatusOr<uint64_t> before = apply();
  absl::Status status = before.status();
  if (status.ok()) {
    status = Exec("COMMIT");
  }
  if (!status.ok()) {
    // After a failed COMMIT (SQLITE_BUSY) the transaction is still open: end it.
    Exec("ROLLBACK").IgnoreError();
    return status;
  }
  return before;
}

absl::StatusOr<Spend> SqliteTeamStore::SpendOf(std::string_view user, int64_t since_ms,
                                               int64_t until_ms) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(
      sqlite3_stmt * stmt,
      Statement("SELECT SUM(requests), SUM(cost_usd), SUM(input_tokens + output_tokens + "
                "cache_read_tokens + cache_creation_tokens) FROM usage_minutes "
                "WHERE user = ? AND unix_ms >= ? AND unix_ms < ?"));
  StatementUse use(stmt);
  Binder bind(stmt);
  if (bind.Text(user).Int(since_ms).Int(until_ms).rc() != SQLITE_OK) {
    return Error(bind.rc(), "binding a spend query");
  }
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) {
    return Error(rc, "summing spend");
  }
  Spend spend;
  spend.requests = ToUint64(sqlite3_column_int64(stmt, 0));
  spend.usd = sqlite3_column_double(stmt, 1);
  spend.tokens = ToUint64(sqlite3_column_int64(stmt, 2));
  return spend;
}

absl::StatusOr<ccrelay::v1::UsageReport> SqliteTeamStore::Usage(
    const ccrelay::v1::GetUsageRequest& request, int64_t now_ms) {
  // The grouping, in the request's order (a repeated name counts once).
  std::vector<const GroupColumn*> groups;
  for (const auto& name : request.group_by()) {
    const GroupColumn* found = nullptr;
    for (const auto& column : kGroupColumns) {
      if (column.name == name) {
        found = &column;
      }
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(StrCat("unknown group_by \"", name,
                                               "\" (one of user, model, provider, key, day)"));
    }
    if (std::find(groups.begin(), groups.end(), found) == groups.end()) {
      groups.push_back(found);
    }
  }
  int64_t since = request.since_unix_ms() != 0 ? request.since_unix_ms() : StartOfUtcMonth(now_ms);
  int64_t until = request.until_unix_ms() != 0 ? request.until_unix_ms() : now_ms;
  if (until < since) {
    return absl::InvalidArgumentError(
        StrCat("the usage range ends (", until, ") before it starts (", since, ")"));
  }
  std::string where = "FROM usage_minutes WHERE unix_ms >= ? AND unix_ms < ?";
  if (!request.user().empty()) {
    where += " AND user = ?";
  }
  std::string columns;
  std::string group_by;
  for (const GroupColumn* g : groups) {
    common::StrAppend(&columns, g->expr, ", ");
    common::StrAppend(&group_by, group_by.empty() ? "" : ", ", g->expr);
  }

  ccrelay::v1::UsageReport report;
  report.set_since_unix_ms(since);
  report.set_until_unix_ms(until);
  absl::MutexLock lock(&mu_);
  // The total, then the grouped rows (without a grouping the one row is the total).
  for (bool total : {true, false}) {
    if (!total && groups.empty()) {
      *report.add_rows() = report.total();
      break;
    }
    std::string sql = total ? StrCat("SELECT ", kAggregates, " ", where)
                            : StrCat("SELECT ", columns, kAggregates, " ", where, " GROUP BY ",
                                     group_by, " ORDER BY ", group_by, ", SUM(cost_usd) DESC");
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Statement(sql));
    StatementUse use(stmt);
    Binder bind(stmt);
    bind.Int(since).Int(until);
    if (!request.user().empty()) {
      bind.Text(request.user());
    }
    if (bind.rc() != SQLITE_OK) {
      return Error(bind.rc(), "binding a usage query");
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (total) {
        ReadAggregates(stmt, 0, report.mutable_total());
        continue;
      }
      ccrelay::v1::UsageRow* row = report.add_rows();
      for (size_t i = 0; i < groups.size(); ++i) {
        SetGroupField(groups[i]->name, ColumnText(stmt, static_cast<int>(i)), row);
      }
      ReadAggregates(stmt, static_cast<int>(groups.size()), row);
    }
    if (rc != SQLITE_DONE) {
      return Error(rc, "querying usage");
    }
  }
  return report;
}

}  // namespace ccrelay::controlplane
