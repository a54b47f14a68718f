#include "controlplane/store/team_store.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "controlplane/store/sqlite_team_store.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::controlplane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ccrelay::v1::GetUsageRequest;
using ccrelay::v1::UsageRecord;
using ccrelay::v1::UsageReport;

int64_t UtcMs(int y, int mo, int d, int h = 0, int mi = 0) {
  return absl::ToUnixMillis(
      absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), absl::UTCTimeZone()));
}

// "Now" of the tests: 2026-12-06 12:00 UTC.
const int64_t kNow = UtcMs(2026, 12, 6, 12);

std::unique_ptr<TeamStore> OpenOrDie(const std::string& path) {
  absl::StatusOr<std::unique_ptr<TeamStore>> store = TeamStore::Open(path);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

StoredUser User(const std::string& name, char key_byte) {
  StoredUser u;
  u.name = name;
  u.key_sha256 = std::string(32, key_byte);
  u.key_fingerprint = "fp-" + name;
  u.created_unix_ms = kNow - 1000;
  u.key_rotated_unix_ms = kNow - 1000;
  return u;
}

// One request's usage as record `seq` of its data plane.
UsageRecord Record(uint64_t seq, const std::string& user, const std::string& model,
                   const std::string& provider, const std::string& key, int64_t unix_ms,
                   double cost, int status = 200) {
  UsageRecord r;
  r.set_seq(seq);
  r.set_requests(1);
  r.set_user(user);
  r.set_user_key_fingerprint(user == "anonymous" ? "" : "fp-" + user);
  r.set_provider(provider);
  r.set_key_fingerprint(key);
  r.set_model(model);
  r.set_status(status);
  r.set_unix_ms(unix_ms);
  r.set_input_tokens(100);
  r.set_output_tokens(10);
  r.set_cache_read_tokens(1000);
  r.set_cache_creation_tokens(1);
  r.set_cost_usd(cost);
  r.set_duration_ms(42);
  return r;
}

// One query of a database file through SQLite itself (what the store wrote, not what it says).
std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
      int rc;
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const unsigned char* text = sqlite3_column_text(stmt, 0);
        out += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
        out += "\n";
      }
      if (rc != SQLITE_DONE) {
        out += std::string("error: ") + sqlite3_errmsg(db);
      }
    } else {
      out = std::string("error: ") + sqlite3_errmsg(db);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

TEST(TeamStoreTest, UsersAddGetListUpdateRemove) {
  auto store = OpenOrDie(":memory:");
  ASSERT_NE(store, nullptr);
  StoredUser bob = User("bob", 'b');
  StoredUser alice = User("alice", 'a');
  alice.policy.add_allowed_models("claude-*");
  alice.policy.set_rpm_limit(30);
  alice.policy.mutable_budget()->set_usd_per_month(50);
  ASSERT_TRUE(store->AddUser(bob).ok());
  ASSERT_TRUE(store->AddUser(alice).ok());

  absl::StatusOr<StoredUser> got = store->GetUser("alice");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "alice");
  EXPECT_EQ(got->key_sha256, alice.key_sha256);
  EXPECT_EQ(got->key_fingerprint, "fp-alice");
  EXPECT_TRUE(got->enabled);
  EXPECT_EQ(got->policy.SerializeAsString(), alice.policy.SerializeAsString());
  EXPECT_EQ(got->created_unix_ms, alice.created_unix_ms);
  EXPECT_EQ(got->key_rotated_unix_ms, alice.key_rotated_unix_ms);

  absl::StatusOr<std::vector<StoredUser>> all = store->ListUsers();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "alice");
  EXPECT_EQ((*all)[1].name, "bob");
  EXPECT_FALSE((*all)[1].policy.has_budget());

  StoredUser changed = alice;
  changed.enabled = false;
  changed.key_sha256 = std::string(32, 'c');
  changed.key_fingerprint = "fp-rotated";
  changed.key_rotated_unix_ms = kNow;
  changed.policy.clear_allowed_models();
  ASSERT_TRUE(store->UpdateUser(changed).ok());
  got = store->GetUser("alice");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->enabled);
  EXPECT_EQ(got->key_sha256, std::string(32, 'c'));
  EXPECT_EQ(got->key_fingerprint, "fp-rotated");
  EXPECT_EQ(got->key_rotated_unix_ms, kNow);
  EXPECT_EQ(got->policy.allowed_models_size(), 0);
  EXPECT_EQ(got->policy.rpm_limit(), 30u);

  ASSERT_TRUE(store->RemoveUser("bob").ok());
  EXPECT_EQ(store->GetUser("bob").status().code(), absl::StatusCode::kNotFound);
  all = store->ListUsers();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST(TeamStoreTest, UserErrors) {
  auto store = OpenOrDie(":memory:");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->AddUser(User("alice", 'a')).ok());

  absl::Status dup = store->AddUser(User("alice", 'z'));
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(dup.message(), HasSubstr("user alice already exists"));
  absl::Status same_key = store->AddUser(User("bob", 'a'));
  EXPECT_EQ(same_key.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(same_key.message(), HasSubstr("same relay key"));

  StoredUser short_key = User("carol", 'c');
  short_key.key_sha256 = "abc";
  EXPECT_EQ(store->AddUser(short_key).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AddUser(User("", 'd')).code(), absl::StatusCode::kInvalidArgument);

  absl::Status missing = store->GetUser("nobody").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("nobody"));
  EXPECT_EQ(store->UpdateUser(User("nobody", 'n')).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->RemoveUser("nobody").code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(store->AddUser(User("bob", 'b')).ok());
  StoredUser steal = User("bob", 'a');  // alice's key
  EXPECT_EQ(store->UpdateUser(steal).code(), absl::StatusCode::kAlreadyExists);
}

TEST(TeamStoreTest, RecordUsageSkipsWhatItsSourceCommittedAndSumsPerMinute) {
  auto store = OpenOrDie(":memory:");
  ASSERT_NE(store, nullptr);
  std::vector<UsageRecord> batch = {
      Record(1, "alice", "m", "p", "k", kNow, 1.0),
      Record(2, "alice", "m", "p", "k", kNow, 2.0),  // the same key and minute: one row
      Record(3, "bob", "m", "p", "k", kNow, 4.0),
  };
  absl::StatusOr<uint64_t> before = store->RecordUsage("dp-a/1111", batch, kNow);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, 0u);

  // The same batch again (its ack was lost) plus one new record: only the new one counts.
  batch.push_back(Record(4, "bob", "m", "p", "k", kNow, 8.0));
  before = store->RecordUsage("dp-a/1111", batch, kNow);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, 3u);
  before = store->RecordUsage("dp-a/1111", {}, kNow);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, 4u);
  // Another process of the same data plane (restarted): its seqs start again and are new.
  before = store->RecordUsage("dp-a/2222", {Record(1, "alice", "m", "p", "k", kNow, 16.0)}, kNow);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, 0u);

  absl::StatusOr<UsageReport> report = store->Usage(GetUsageRequest(), kNow + 1);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->total().requests(), 5u);
  EXPECT_DOUBLE_EQ(report->total().cost_usd(), 31.0);
  EXPECT_EQ(report->total().input_tokens(), 500u);
  absl::StatusOr<Spend> alice = store->SpendOf("alice", kNow, kNow + 1);
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->requests, 3u);
  EXPECT_DOUBLE_EQ(alice->usd, 19.0);
}

TEST(TeamStoreFileTest, OneRowPerUserKeyModelStatusAndMinute) {
  ccrelay::testing::TempDir dir;
  const std::string path = dir.path() + "/minutes.db";
  {
    auto store = OpenOrDie(path);
    ASSERT_NE(store, nullptr);
    std::vector<UsageRecord> batch;
    for (uint64_t i = 1; i <= 100; ++i) {
      batch.push_back(Record(i, i % 2 == 0 ? "alice" : "bob", "m", "p", "k", kNow, 0.5));
    }
    batch.push_back(Record(101, "alice", "m", "p", "k", kNow, 0.5, 429));
    batch.push_back(Record(102, "alice", "m", "p", "k", kNow + 60000, 0.5));
    ASSERT_TRUE(store->RecordUsage("dp-a/1", batch, kNow).ok());
  }
  EXPECT_EQ(
      RawQuery(path, "SELECT user || ' ' || status || ' ' || (unix_ms - " + std::to_string(kNow) +
                         ") || ' ' || requests FROM usage_minutes ORDER BY 1"),
      "alice 200 0 50\nalice 200 60000 1\nalice 429 0 1\nbob 200 0 50\n");
  EXPECT_EQ(RawQuery(path, "SELECT source || ' ' || committed_seq FROM usage_sources"),
            "dp-a/1 102\n");
}

// A database of schema 1 (one row per request, as cc-relay wrote it before the per-minute
// sums): opening it folds its rows into minutes, and nothing is lost.
TEST(TeamStoreFileTest, MigratesPerRequestRowsIntoMinutes) {
  ccrelay::testing::TempDir dir;
  const std::string path = dir.path() + "/v1.db";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const std::string v1 = R"sql(
CREATE TABLE users (name TEXT PRIMARY KEY NOT NULL, key_sha256 BLOB NOT NULL UNIQUE,
  key_fingerprint TEXT NOT NULL, enabled INTEGER NOT NULL, policy BLOB NOT NULL,
  created_unix_ms INTEGER NOT NULL, key_rotated_unix_ms INTEGER NOT NULL);
CREATE TABLE usage (id INTEGER PRIMARY KEY, request_id TEXT UNIQUE, user TEXT NOT NULL,
  user_key_fingerprint TEXT NOT NULL, provider TEXT NOT NULL, key_fingerprint TEXT NOT NULL,
  model TEXT NOT NULL, status INTEGER NOT NULL, unix_ms INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL, cache_creation_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL, duration_ms INTEGER NOT NULL);
CREATE INDEX usage_user_time ON usage (user, unix_ms);
CREATE INDEX usage_time ON usage (unix_ms);
INSERT INTO usage VALUES (1, 'r1', 'alice', 'fp-a', 'p', 'k', 'm', 200, 1765022401000, 10, 1, 0, 0, 0.5, 7);
INSERT INTO usage VALUES (2, 'r2', 'alice', 'fp-a', 'p', 'k', 'm', 200, 1765022459999, 20, 2, 0, 0, 0.25, 8);
INSERT INTO usage VALUES (3, 'r3', 'alice', 'fp-a', 'p', 'k', 'm', 200, 1765022460000, 40, 4, 0, 0, 1.0, 9);
INSERT INTO usage VALUES (4, 'r4', 'anonymous', '', '', '', 'm', 401, 1765022401000, 0, 0, 0, 0, 0, 1);
PRAGMA user_version = 1;
)sql";
    ASSERT_EQ(sqlite3_exec(db, v1.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "2\n");
  EXPECT_EQ(RawQuery(path,
                     "SELECT user || ' ' || status || ' ' || unix_ms || ' ' || requests || "
                     "' ' || input_tokens || ' ' || cost_usd || ' ' || duration_ms "
                     "FROM usage_minutes ORDER BY 1"),
            "alice 200 1765022400000 2 30 0.75 15\nalice 200 1765022460000 1 40 1.0 9\n"
            "anonymous 401 1765022400000 1 0 0.0 1\n");
  absl::StatusOr<Spend> alice = store->SpendOf("alice", 0, int64_t{1} << 50);
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->requests, 3u);
  EXPECT_EQ(alice->tokens, 77u);
}

// Records over two users, models, providers, keys and days of this month, one of the previous
// month and one after "now".
std::vector<UsageRecord> GroupingData() {
  return {
      Record(1, "alice", "opus", "anthropic", "k1", UtcMs(2026, 12, 1, 10), 3.0),
      Record(2, "alice", "opus", "anthropic", "k2", UtcMs(2026, 12, 2, 10), 5.0, 429),
      Record(3, "alice", "glm", "zai", "k3", UtcMs(2026, 12, 2, 11), 0.5),
      Record(4, "bob", "opus", "anthropic", "k1", UtcMs(2026, 12, 1, 23, 59), 7.0),
      Record(5, "bob", "glm", "zai", "k3", UtcMs(2026, 12, 5, 0), 0.25, 500),
      Record(6, "anonymous", "glm", "zai", "k3", UtcMs(2026, 12, 5, 1), 0.125),
      Record(7, "alice", "opus", "anthropic", "k1", UtcMs(2026, 11, 30, 23, 59), 100),
      Record(8, "alice", "opus", "anthropic", "k1", kNow + 1, 1000),
  };
}

class TeamStoreUsageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(":memory:");
    ASSERT_NE(store_, nullptr);
    absl::StatusOr<uint64_t> before = store_->RecordUsage("dp-a/1", GroupingData(), kNow);
    ASSERT_TRUE(before.ok()) << before.status();
    ASSERT_EQ(*before, 0u);
  }

  UsageReport Report(std::vector<std::string> group_by, std::string user = "") {
    GetUsageRequest request;
    request.set_user(user);
    for (auto& g : group_by) {
      request.add_group_by(g);
    }
    absl::StatusOr<UsageReport> report = store_->Usage(request, kNow);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : UsageReport();
  }

  std::unique_ptr<TeamStore> store_;
};

TEST_F(TeamStoreUsageTest, TotalOfTheCurrentMonth) {
  UsageReport r = Report({});
  EXPECT_EQ(r.since_unix_ms(), UtcMs(2026, 12, 1));
  EXPECT_EQ(r.until_unix_ms(), kNow);
  EXPECT_EQ(r.total().requests(), 6u);
  EXPECT_EQ(r.total().errors(), 2u);
  EXPECT_EQ(r.total().input_tokens(), 600u);
  EXPECT_EQ(r.total().output_tokens(), 60u);
  EXPECT_EQ(r.total().cache_read_tokens(), 6000u);
  EXPECT_EQ(r.total().cache_creation_tokens(), 6u);
  EXPECT_DOUBLE_EQ(r.total().cost_usd(), 15.875);
  // Without a grouping the one row is the total.
  ASSERT_EQ(r.rows_size(), 1);
  EXPECT_EQ(r.rows(0).SerializeAsString(), r.total().SerializeAsString());
}

TEST_F(TeamStoreUsageTest, GroupByUser) {
  UsageReport r = Report({"user"});
  ASSERT_EQ(r.rows_size(), 3);
  EXPECT_EQ(r.rows(0).user(), "alice");
  EXPECT_EQ(r.rows(0).requests(), 3u);
  EXPECT_EQ(r.rows(0).errors(), 1u);
  EXPECT_DOUBLE_EQ(r.rows(0).cost_usd(), 8.5);
  EXPECT_EQ(r.rows(0).model(), "");
  EXPECT_EQ(r.rows(1).user(), "anonymous");
  EXPECT_EQ(r.rows(2).user(), "bob");
  EXPECT_DOUBLE_EQ(r.rows(2).cost_usd(), 7.25);
  EXPECT_EQ(r.total().requests(), 6u);
}

TEST_F(TeamStoreUsageTest, GroupByModelProviderKeyDay) {
  UsageReport r = Report({"model"});
  ASSERT_EQ(r.rows_size(), 2);
  EXPECT_EQ(r.rows(0).model(), "glm");
  EXPECT_EQ(r.rows(0).requests(), 3u);
  EXPECT_EQ(r.rows(1).model(), "opus");
  EXPECT_DOUBLE_EQ(r.rows(1).cost_usd(), 15.0);

  r = Report({"provider"});
  ASSERT_EQ(r.rows_size(), 2);
  EXPECT_EQ(r.rows(0).provider(), "anthropic");
  EXPECT_EQ(r.rows(0).requests(), 3u);
  EXPECT_EQ(r.rows(1).provider(), "zai");
  EXPECT_DOUBLE_EQ(r.rows(1).cost_usd(), 0.875);

  r = Report({"key"});
  ASSERT_EQ(r.rows_size(), 3);
  EXPECT_EQ(r.rows(0).key_fingerprint(), "k1");
  EXPECT_DOUBLE_EQ(r.rows(0).cost_usd(), 10.0);
  EXPECT_EQ(r.rows(1).key_fingerprint(), "k2");
  EXPECT_EQ(r.rows(2).key_fingerprint(), "k3");
  EXPECT_EQ(r.rows(2).requests(), 3u);

  r = Report({"day"});
  ASSERT_EQ(r.rows_size(), 3);
  EXPECT_EQ(r.rows(0).day(), "2026-12-01");  // 23:59 UTC stays on its UTC day
  EXPECT_EQ(r.rows(0).requests(), 2u);
  EXPECT_DOUBLE_EQ(r.rows(0).cost_usd(), 10.0);
  EXPECT_EQ(r.rows(1).day(), "2026-12-02");
  EXPECT_EQ(r.rows(2).day(), "2026-12-05");
  EXPECT_EQ(r.rows(2).errors(), 1u);
}

TEST_F(TeamStoreUsageTest, GroupByUserThenDayAndUserFilter) {
  UsageReport r = Report({"user", "day"});
  std::vector<std::string> keys;
  for (const auto& row : r.rows()) {
    keys.push_back(row.user() + "/" + row.day());
  }
  EXPECT_THAT(keys, ElementsAre("alice/2026-12-01", "alice/2026-12-02", "anonymous/2026-12-05",
                                "bob/2026-12-01", "bob/2026-12-05"));
  // A repeated name counts once; the request's order is the order of the columns.
  r = Report({"day", "user", "day"});
  keys.clear();
  for (const auto& row : r.rows()) {
    keys.push_back(row.day() + "/" + row.user());
  }
  EXPECT_THAT(keys, ElementsAre("2026-12-01/alice", "2026-12-01/bob", "2026-12-02/alice",
                                "2026-12-05/anonymous", "2026-12-05/bob"));

  r = Report({"model"}, "alice");
  ASSERT_EQ(r.rows_size(), 2);
  EXPECT_EQ(r.rows(0).model(), "glm");
  EXPECT_EQ(r.rows(1).model(), "opus");
  EXPECT_EQ(r.rows(1).requests(), 2u);
  EXPECT_EQ(r.total().requests(), 3u);
  EXPECT_DOUBLE_EQ(r.total().cost_usd(), 8.5);

  r = Report({"user"}, "nobody");
  EXPECT_EQ(r.rows_size(), 0);
  EXPECT_EQ(r.total().requests(), 0u);
}

TEST_F(TeamStoreUsageTest, UnknownGroupAndBadRange) {
  GetUsageRequest request;
  request.add_group_by("user");
  request.add_group_by("color");
  absl::StatusOr<UsageReport> r = store_->Usage(request, kNow);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("color"));

  request.clear_group_by();
  request.set_since_unix_ms(kNow);
  request.set_until_unix_ms(kNow - 1);
  EXPECT_EQ(store_->Usage(request, kNow).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TeamStoreUsageTest, Ranges) {
  GetUsageRequest request;
  // [since, until): the last minute of November only.
  request.set_since_unix_ms(UtcMs(2026, 11, 30, 23, 59));
  request.set_until_unix_ms(UtcMs(2026, 12, 1));
  absl::StatusOr<UsageReport> r = store_->Usage(request, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->total().requests(), 1u);
  EXPECT_DOUBLE_EQ(r->total().cost_usd(), 100.0);

  // The end is exclusive: a record at exactly `until` is not in.
  request.set_until_unix_ms(UtcMs(2026, 11, 30, 23, 59));
  r = store_->Usage(request, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->total().requests(), 0u);

  // since set, until 0 = now: November's last record and this month's, not the future one.
  request.set_until_unix_ms(0);
  r = store_->Usage(request, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->total().requests(), 7u);
  EXPECT_EQ(r->until_unix_ms(), kNow);

  // since 0 in another month: that month's start.
  r = store_->Usage(GetUsageRequest(), UtcMs(2026, 11, 30, 23, 59) + 1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->since_unix_ms(), UtcMs(2026, 11, 1));
  EXPECT_EQ(r->total().requests(), 1u);
}

TEST_F(TeamStoreUsageTest, SpendOf) {
  absl::StatusOr<Spend> s = store_->SpendOf("alice", UtcMs(2026, 12, 1), kNow);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->requests, 3u);
  EXPECT_DOUBLE_EQ(s->usd, 8.5);
  EXPECT_EQ(s->tokens, 3u * (100 + 10 + 1000 + 1));

  s = store_->SpendOf("alice", UtcMs(2026, 12, 2), UtcMs(2026, 12, 2, 11));  // a2 only
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->requests, 1u);
  EXPECT_DOUBLE_EQ(s->usd, 5.0);

  s = store_->SpendOf("alice", 0, kNow + 2);  // also November and the future one
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->requests, 5u);
  EXPECT_DOUBLE_EQ(s->usd, 1108.5);

  s = store_->SpendOf("nobody", 0, kNow);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->requests, 0u);
  EXPECT_EQ(s->usd, 0.0);
  EXPECT_EQ(s->tokens, 0u);
}

TEST(TeamStoreFileTest, ReopenKeepsEverythingAndTheFileIsPrivate) {
  ccrelay::testing::TempDir dir;
  std::string path = dir.path() + "/state/cc-relay.db";  // the directory is made too
  {
    auto store = OpenOrDie(path);
    ASSERT_NE(store, nullptr);
    StoredUser alice = User("alice", 'a');
    alice.policy.mutable_budget()->set_usd_per_day(5);
    ASSERT_TRUE(store->AddUser(alice).ok());
    absl::StatusOr<uint64_t> before = store->RecordUsage("dp-a/1", GroupingData(), kNow);
    ASSERT_TRUE(before.ok()) << before.status();
  }
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir.path() + "/state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(RawQuery(path, "PRAGMA journal_mode"), "wal\n");
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "2\n");

  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<StoredUser> alice = store->GetUser("alice");
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->policy.budget().usd_per_day(), 5.0);
  absl::StatusOr<UsageReport> r = store->Usage(GetUsageRequest(), kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->total().requests(), 6u);
  // While open: the WAL exists, with the database's mode.
  std::string wal = path + "-wal";
  if (::stat(wal.c_str(), &st) == 0) {
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
}

TEST(TeamStoreFileTest, MigratesAnEmptyFile) {
  ccrelay::testing::TempDir dir;
  std::string path = dir.WriteFile("empty.db", "");
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "2\n");
  EXPECT_EQ(RawQuery(path,
                     "SELECT name FROM sqlite_master WHERE type IN ('table', 'index') "
                     "AND name NOT LIKE 'sqlite_%' ORDER BY name"),
            "usage_minutes\nusage_minutes_user_time\nusage_sources\nusers\n");
}

TEST(TeamStoreFileTest, RefusesANewerSchema) {
  ccrelay::testing::TempDir dir;
  std::string path = dir.path() + "/newer.db";
  {
    auto store = OpenOrDie(path);
    ASSERT_NE(store, nullptr);
  }
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version = 7"), "");
  absl::StatusOr<std::unique_ptr<TeamStore>> store = TeamStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 7"));
  EXPECT_THAT(store.status().message(), HasSubstr("up to 2"));
  // Nothing was changed.
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "7\n");
}

TEST(TeamStoreFileTest, NotADatabase) {
  ccrelay::testing::TempDir dir;
  std::string path = dir.WriteFile("junk.db", std::string(4096, 'x'));
  absl::StatusOr<std::unique_ptr<TeamStore>> store = TeamStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(), HasSubstr(path));
}

// The crash test's writer (a forked child; never returns), as a data plane whose control plane
// is killed and restarted: it goes on from the last seq acknowledged (the side file's last line)
// and, as after a lost ack, sends the 10 records before it again. Batches of `kBatch` records
// of one source, each one RecordUsage; record `seq` has `seq` input tokens. After each commit
// the batch's highest seq is appended to `side` with write + fsync (the ack). It runs until it
// is killed.
constexpr int kBatch = 200;
constexpr const char* kCrashSource = "dp-crash/5eed";

// The last complete line of `side` as a seq (0 for none); a torn last line (killed mid-write)
// is cut off the file so the next round appends after a newline.
uint64_t LastAckedSeq(const std::string& side, size_t* lines = nullptr) {
  std::string text = ccrelay::testing::ReadFileOrEmpty(side);
  size_t end = text.rfind('\n');
  text.resize(end == std::string::npos ? 0 : end + 1);
  std::filesystem::resize_file(side, text.size());
  if (lines != nullptr) {
    *lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  }
  if (text.empty()) {
    return 0;
  }
  text.pop_back();
  const size_t start = text.rfind('\n');
  return std::stoull(text.substr(start == std::string::npos ? 0 : start + 1));
}

[[noreturn]] void CrashWriter(const std::string& db, const std::string& side) {
  absl::StatusOr<std::unique_ptr<TeamStore>> store = TeamStore::Open(db);
  if (!store.ok()) {
    ::_exit(2);
  }
  const uint64_t acked = LastAckedSeq(side);
  int fd = ::open(side.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    ::_exit(3);
  }
  uint64_t from = acked > 10 ? acked - 9 : 1;  // the resend
  uint64_t next = acked + 1;
  for (int batch = 0; batch < 1000000; ++batch) {
    std::vector<UsageRecord> records;
    for (uint64_t seq = from; seq < next + kBatch; ++seq) {
      UsageRecord r = Record(seq, "u" + std::to_string(seq % 7), "m", "p", "k", kNow, 0.01);
      r.set_input_tokens(seq);
      records.push_back(std::move(r));
    }
    absl::StatusOr<uint64_t> before = (*store)->RecordUsage(kCrashSource, records, kNow);
    if (!before.ok() || *before + 1 < from) {
      ::_exit(4);  // failed, or the database lost what it had acknowledged
    }
    const uint64_t highest = records.back().seq();
    const std::string line = std::to_string(highest) + "\n";
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
        ::fsync(fd) != 0) {
      ::_exit(5);
    }
    from = highest - 9;
    next = highest + 1;
  }
  ::_exit(6);
}

TEST(TeamStoreCrashTest, KilledWriterLosesNothingCommittedAndCountsNothingTwice) {
  ccrelay::testing::TempDir dir;
  const std::string db = dir.path() + "/usage.db";
  const std::string side = dir.WriteFile("committed.txt", "");
  size_t batches = 0;
  for (int round = 0; round < 3; ++round) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      CrashWriter(db, side);
    }
    // Kill it after a few more committed batches (a different number each round), at some
    // point of its next transaction.
    const size_t target = batches + static_cast<size_t>(3 + 4 * round);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int status = 0;
    bool exited = false;
    size_t lines = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string text = ccrelay::testing::ReadFileOrEmpty(side);
      if (static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) >= target) {
        break;
      }
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!exited) {
      std::this_thread::sleep_for(std::chrono::microseconds(700 * round));
      ::kill(pid, SIGKILL);
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    }
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself, code "
                                     << WEXITSTATUS(status);
    const uint64_t acked = LastAckedSeq(side, &lines);
    ASSERT_GT(lines, batches) << "round " << round << ": no batch committed";
    batches = lines;

    // Reopening recovers the WAL; the file is sound; it has every seq up to its committed seq
    // exactly once (the sums of requests and of input tokens, seq n having n tokens, say so),
    // which is at least every acknowledged seq and at most one batch beyond.
    auto store = OpenOrDie(db);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(RawQuery(db, "PRAGMA integrity_check"), "ok\n");
    const std::string committed_text =
        RawQuery(db, "SELECT committed_seq FROM usage_sources WHERE source = '" +
                         std::string(kCrashSource) + "'");
    ASSERT_FALSE(committed_text.empty());
    const uint64_t committed = std::stoull(committed_text);
    EXPECT_GE(committed, acked) << "round " << round << ": acknowledged records lost";
    EXPECT_LE(committed, acked + kBatch + 10);
    absl::StatusOr<UsageReport> report = store->Usage(GetUsageRequest(), kNow + 1);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->total().requests(), committed) << "round " << round;
    EXPECT_EQ(report->total().input_tokens(), committed * (committed + 1) / 2) << "round " << round;
  }
}

}  // namespace
}  // namespace ccrelay::controlplane
