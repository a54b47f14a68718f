#include "controlplane/store/team_store.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
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

UsageRecord Record(const std::string& id, const std::string& user, const std::string& model,
                   const std::string& provider, const std::string& key, int64_t unix_ms,
                   double cost, int status = 200) {
  UsageRecord r;
  r.set_request_id(id);
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

TEST(TeamStoreTest, RecordUsageSkipsKnownRequestIds) {
  auto store = OpenOrDie(":memory:");
  ASSERT_NE(store, nullptr);
  std::vector<UsageRecord> batch = {
      Record("r1", "alice", "m", "p", "k", kNow - 3, 1.0),
      Record("r2", "alice", "m", "p", "k", kNow - 2, 2.0),
      Record("r3", "bob", "m", "p", "k", kNow - 1, 4.0),
  };
  absl::StatusOr<size_t> added = store->RecordUsage(batch);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 3u);

  // The same batch again (its ack was lost) plus one new record: only the new one counts.
  batch.push_back(Record("r4", "bob", "m", "p", "k", kNow - 1, 8.0));
  added = store->RecordUsage(batch);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 1u);
  added = store->RecordUsage({});
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 0u);

  absl::StatusOr<UsageReport> report = store->Usage(GetUsageRequest(), kNow);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->total().requests(), 4u);
  EXPECT_DOUBLE_EQ(report->total().cost_usd(), 15.0);
}

// Records over two users, models, providers, keys and days of this month, one of the previous
// month and one after "now".
std::vector<UsageRecord> GroupingData() {
  return {
      Record("a1", "alice", "opus", "anthropic", "k1", UtcMs(2026, 12, 1, 10), 3.0),
      Record("a2", "alice", "opus", "anthropic", "k2", UtcMs(2026, 12, 2, 10), 5.0, 429),
      Record("a3", "alice", "glm", "zai", "k3", UtcMs(2026, 12, 2, 11), 0.5),
      Record("b1", "bob", "opus", "anthropic", "k1", UtcMs(2026, 12, 1, 23, 59), 7.0),
      Record("b2", "bob", "glm", "zai", "k3", UtcMs(2026, 12, 5, 0), 0.25, 500),
      Record("n1", "anonymous", "glm", "zai", "k3", UtcMs(2026, 12, 5, 1), 0.125),
      Record("old", "alice", "opus", "anthropic", "k1", UtcMs(2026, 11, 30, 23, 59), 100),
      Record("future", "alice", "opus", "anthropic", "k1", kNow + 1, 1000),
  };
}

class TeamStoreUsageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(":memory:");
    ASSERT_NE(store_, nullptr);
    absl::StatusOr<size_t> added = store_->RecordUsage(GroupingData());
    ASSERT_TRUE(added.ok()) << added.status();
    ASSERT_EQ(*added, 8u);
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
    absl::StatusOr<size_t> added = store->RecordUsage(GroupingData());
    ASSERT_TRUE(added.ok()) << added.status();
  }
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir.path() + "/state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(RawQuery(path, "PRAGMA journal_mode"), "wal\n");
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "1\n");

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
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "1\n");
  EXPECT_EQ(RawQuery(path, "SELECT name FROM sqlite_master WHERE type IN ('table', 'index') "
                           "AND name NOT LIKE 'sqlite_%' ORDER BY name"),
            "usage\nusage_time\nusage_user_time\nusers\n");
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
  EXPECT_THAT(store.status().message(), HasSubstr("up to 1"));
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

// The crash test's writer (a forked child; never returns): batches of `kBatch` records, each
// batch one RecordUsage (also resending the previous batch's last records, as a data plane
// does after a lost ack), and after each commit the batch's ids appended to `side` with
// write + fsync. It runs until it is killed.
constexpr int kBatch = 200;
[[noreturn]] void CrashWriter(const std::string& db, const std::string& side, int round) {
  absl::StatusOr<std::unique_ptr<TeamStore>> store = TeamStore::Open(db);
  if (!store.ok()) {
    ::_exit(2);
  }
  int fd = ::open(side.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    ::_exit(3);
  }
  std::vector<UsageRecord> previous;
  for (int batch = 0; batch < 1000000; ++batch) {
    std::vector<UsageRecord> records;
    if (previous.size() >= 10) {
      records.assign(previous.end() - 10, previous.end());
    }
    std::string ids;
    for (int i = 0; i < kBatch; ++i) {
      std::string id = "r" + std::to_string(round) + "-b" + std::to_string(batch) + "-" +
                       std::to_string(i);
      records.push_back(Record(id, "u" + std::to_string(i % 7), "m", "p", "k", kNow, 0.01));
      ids += id + "\n";
    }
    absl::StatusOr<size_t> added = (*store)->RecordUsage(records);
    if (!added.ok() || *added != static_cast<size_t>(kBatch)) {
      ::_exit(4);
    }
    if (::write(fd, ids.data(), ids.size()) != static_cast<ssize_t>(ids.size()) ||
        ::fsync(fd) != 0) {
      ::_exit(5);
    }
    previous.assign(records.end() - kBatch, records.end());
  }
  ::_exit(6);
}

size_t LineCount(const std::string& path) {
  std::string text = ccrelay::testing::ReadFileOrEmpty(path);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The complete lines of `side`; a torn last line (killed mid-write) is cut off the file so the
// next round appends after a newline.
std::vector<std::string> CommittedIds(const std::string& side) {
  std::string text = ccrelay::testing::ReadFileOrEmpty(side);
  size_t end = text.rfind('\n');
  text.resize(end == std::string::npos ? 0 : end + 1);
  std::filesystem::resize_file(side, text.size());
  std::vector<std::string> ids;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    ids.push_back(text.substr(start, nl - start));
  }
  return ids;
}

TEST(TeamStoreCrashTest, KilledWriterLosesNothingCommittedAndCountsNothingTwice) {
  ccrelay::testing::TempDir dir;
  const std::string db = dir.path() + "/usage.db";
  const std::string side = dir.WriteFile("committed.txt", "");
  size_t committed = 0;
  for (int round = 0; round < 3; ++round) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      CrashWriter(db, side, round);
    }
    // Kill it after a few more committed batches (a different number each round), at some
    // point of its next transaction.
    const size_t target = committed + static_cast<size_t>(kBatch) * (3 + 4 * round);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int status = 0;
    bool exited = false;
    while (LineCount(side) < target &&
           std::chrono::steady_clock::now() < deadline) {
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

    std::vector<std::string> ids = CommittedIds(side);
    ASSERT_GT(ids.size(), committed) << "round " << round << ": no batch committed";
    committed = ids.size();

    // Reopening recovers the WAL; the file is sound, holds every acknowledged id, and none
    // twice.
    auto store = OpenOrDie(db);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(RawQuery(db, "PRAGMA integrity_check"), "ok\n");
    EXPECT_EQ(RawQuery(db, "SELECT COUNT(*) = COUNT(DISTINCT request_id) FROM usage"), "1\n");
    std::string stored = RawQuery(db, "SELECT request_id FROM usage");
    std::set<std::string> in_db;
    size_t start = 0;
    for (size_t nl; (nl = stored.find('\n', start)) != std::string::npos; start = nl + 1) {
      in_db.insert(stored.substr(start, nl - start));
    }
    size_t missing = 0;
    for (const auto& id : ids) {
      missing += in_db.count(id) == 0 ? 1 : 0;
    }
    EXPECT_EQ(missing, 0u) << "round " << round << ": committed ids missing from the database";
    // Beyond the side file, the database holds at most the batch of each kill that committed
    // before its ids were written down.
    EXPECT_GE(in_db.size(), ids.size());
    EXPECT_LE(in_db.size(), ids.size() + static_cast<size_t>(kBatch) * (round + 1));
    absl::StatusOr<UsageReport> report = store->Usage(GetUsageRequest(), kNow + 1);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->total().requests(), in_db.size());
  }
}

}  // namespace
}  // namespace ccrelay::controlplane
