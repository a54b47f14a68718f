// Usage and budgets across real processes (issue 15): `cc-relay control-plane --db FILE`, two
// `cc-relay data-plane`s, `cc-relayctl users`, and a fake upstream whose every answer carries
// scripted usage. Two users through two data planes are attributed to the token in the
// database; a budget reached mid-stream lets that stream finish and refuses the next request on
// both data planes; a removed user is refused within a second; a control plane killed (SIGKILL)
// during writes under load and restarted on the same database loses and double-counts nothing.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include "gtest/gtest.h"
#include <nlohmann/json.hpp>

#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_config.h"
#include "tests/fakes/relay_fixture.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kStartTimeout{10000};
constexpr milliseconds kSyncTimeout{5000};
// Records reach the database with the data plane's next stats tick (1 s) and a commit.
constexpr milliseconds kUsageTimeout{20000};

// USD per million tokens of the provider (so that every record has a cost to compare).
constexpr double kInPerMtok = 2;
constexpr double kOutPerMtok = 10;
constexpr double kCacheReadPerMtok = 0.2;
constexpr double kCacheWritePerMtok = 2.5;

// One answer of the fake upstream: its message id and the usage it reported.
struct ScriptedUsage {
  uint64_t input = 0;
  uint64_t output = 0;
  uint64_t cache_read = 0;
  uint64_t cache_creation = 0;

  double cost() const {
    return (static_cast<double>(input) * kInPerMtok + static_cast<double>(output) * kOutPerMtok +
            static_cast<double>(cache_read) * kCacheReadPerMtok +
            static_cast<double>(cache_creation) * kCacheWritePerMtok) /
           1e6;
  }
  uint64_t tokens() const { return input + output + cache_read + cache_creation; }
};

// The fake's default handler: every answer has different usage; the fake's log maps each
// message id ("msg_usage_N") to it.
class UsageScript {
 public:
  Handler handler() {
    return [this](const RecordedRequest&, Responder& out) {
      const uint64_t n = next_.fetch_add(1);
      ScriptedUsage u{100 + n % 97, 10 + (n * 7) % 53, (n % 3) * 40, n % 5};
      const std::string id = "msg_usage_" + std::to_string(n);
      {
        std::lock_guard<std::mutex> lock(mu_);
        log_[id] = u;
      }
      const nlohmann::json body = {
          {"id", id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", "claude-test-1"},
          {"content", {{{"type", "text"}, {"text", "ok"}}}},
          {"stop_reason", "end_turn"},
          {"stop_sequence", nullptr},
          {"usage",
           {{"input_tokens", u.input},
            {"output_tokens", u.output},
            {"cache_read_input_tokens", u.cache_read},
            {"cache_creation_input_tokens", u.cache_creation}}}};
      Headers headers = AnthropicResponseHeaders("req_up_" + std::to_string(n));
      headers.emplace_back("content-type", "application/json");
      out.Respond(200, headers, body.dump());
    };
  }
  std::optional<ScriptedUsage> Of(const std::string& message_id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = log_.find(message_id);
    return it == log_.end() ? std::nullopt : std::optional<ScriptedUsage>(it->second);
  }

 private:
  std::atomic<uint64_t> next_{0};
  mutable std::mutex mu_;
  std::map<std::string, ScriptedUsage> log_;
};

// The sums of the usage table for one user and status.
struct Totals {
  uint64_t requests = 0;
  uint64_t input = 0;
  uint64_t output = 0;
  uint64_t cache_read = 0;
  uint64_t cache_creation = 0;
  double cost = 0;
};
// user -> status -> sums.
using UsageSums = std::map<std::string, std::map<int, Totals>>;

// The usage table's sums by user and status, read from the database file beside a running (or
// killed) control plane.
UsageSums ReadUsage(const std::string& db) {
  UsageSums sums;
  sqlite3* conn = nullptr;
  if (sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(conn);
    return sums;
  }
  sqlite3_busy_timeout(conn, 2000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(conn,
                         "SELECT user, status, SUM(requests), SUM(input_tokens), "
                         "SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_creation_tokens), "
                         "SUM(cost_usd) FROM usage_minutes GROUP BY user, status",
                         -1, &stmt, nullptr) == SQLITE_OK) {
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      Totals& t = sums[reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))]
                      [sqlite3_column_int(stmt, 1)];
      t.requests = static_cast<uint64_t>(sqlite3_column_int64(stmt, 2));
      t.input = static_cast<uint64_t>(sqlite3_column_int64(stmt, 3));
      t.output = static_cast<uint64_t>(sqlite3_column_int64(stmt, 4));
      t.cache_read = static_cast<uint64_t>(sqlite3_column_int64(stmt, 5));
      t.cache_creation = static_cast<uint64_t>(sqlite3_column_int64(stmt, 6));
      t.cost = sqlite3_column_double(stmt, 7);
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(conn);
  return sums;
}

uint64_t RequestsIn(const UsageSums& sums) {
  uint64_t n = 0;
  for (const auto& [user, by_status] : sums) {
    for (const auto& [status, t] : by_status) {
      n += t.requests;
    }
  }
  return n;
}

// What a client saw of one answered request.
struct Answered {
  std::string user;
  std::string message_id;  // the fake's id in the body
};

// Checks the database against every answered request and the fake's log: per user, exactly as
// many requests as were answered (none lost, none counted twice), with the tokens of each kind
// and the cost the fake reported for them; nothing else.
void ExpectAttributed(const std::vector<Answered>& answered, const UsageScript& script,
                      const UsageSums& sums) {
  std::map<std::string, Totals> expected;
  for (const Answered& a : answered) {
    const std::optional<ScriptedUsage> u = script.Of(a.message_id);
    ASSERT_TRUE(u.has_value()) << a.message_id;
    Totals& t = expected[a.user];
    ++t.requests;
    t.input += u->input;
    t.output += u->output;
    t.cache_read += u->cache_read;
    t.cache_creation += u->cache_creation;
    t.cost += u->cost();
  }
  EXPECT_EQ(sums.size(), expected.size()) << "users in the database vs users answered";
  for (const auto& [user, want] : expected) {
    auto it = sums.find(user);
    ASSERT_NE(it, sums.end()) << "no usage of " << user;
    ASSERT_EQ(it->second.size(), 1u) << user << ": a status other than 200 was recorded";
    ASSERT_EQ(it->second.begin()->first, 200) << user;
    const Totals& got = it->second.begin()->second;
    EXPECT_EQ(got.requests, want.requests) << user;
    EXPECT_EQ(got.input, want.input) << user;
    EXPECT_EQ(got.output, want.output) << user;
    EXPECT_EQ(got.cache_read, want.cache_read) << user;
    EXPECT_EQ(got.cache_creation, want.cache_creation) << user;
    EXPECT_NEAR(got.cost, want.cost, 1e-9) << user;
  }
}

class TeamUsageTest : public ::testing::Test {
 public:
  void SetUp() override {
    config_path_ = dir_.path() + "/config.yaml";
    db_path_ = dir_.path() + "/team.db";
    fake_.SetHandler(script_.handler());
    RelayConfig config = OneProvider(fake_, {"sk-ant-team-0001"});
    config.timeouts.drain_ms = 2000;
    std::string yaml = config.ToYaml();
    const std::string pricing =
        "    pricing:\n      \"claude-test-*\": {input_per_mtok: 2, output_per_mtok: 10, "
        "cache_read_per_mtok: 0.2, cache_write_per_mtok: 2.5}\n";
    yaml.insert(yaml.find("routing:\n"), pricing);
    std::ofstream(config_path_) << yaml;
  }

  void TearDown() override {
    for (auto& dp : dps_) {
      if (dp.proc->running()) {
        EXPECT_EQ(dp.proc->Stop(milliseconds(10000)), std::optional<int>(0)) << dp.id;
      }
    }
    if (cp_ != nullptr && cp_->running()) {
      EXPECT_EQ(cp_->Stop(milliseconds(10000)), std::optional<int>(0));
    }
    if (HasFailure()) {
      auto dump = [](const std::string& name, const std::string& log) {
        constexpr size_t kMax = 12000;
        const std::string tail = log.size() > kMax ? "...\n" + log.substr(log.size() - kMax) : log;
        std::fprintf(stderr, "---- %s ----\n%s---- end of %s ----\n", name.c_str(), tail.c_str(),
                     name.c_str());
      };
      for (const std::string& log : old_cp_logs_) {
        dump("control plane (killed)", log);
      }
      if (cp_ != nullptr) {
        dump("control plane", cp_->log());
      }
      for (auto& dp : dps_) {
        dump(dp.id, dp.proc->log());
      }
    }
  }

  // `cc-relay control-plane --db` on `listen` (a restart passes the previous address).
  void StartControlPlane(const std::string& listen = "127.0.0.1:0") {
    if (cp_ != nullptr) {
      old_cp_logs_.push_back(cp_->log());
    }
    cp_ = std::make_unique<ChildProcess>();
    ASSERT_TRUE(cp_->Start({CCR_RELAY_BINARY, "control-plane", "--config", config_path_,
                            "--listen", listen, "--db", db_path_, "--log-level", "debug"}))
        << cp_->error();
    const std::optional<std::string> port =
        cp_->WaitForValue("control_plane_listening address=127.0.0.1:", kStartTimeout);
    ASSERT_TRUE(port.has_value()) << cp_->log();
    cp_addr_ = "127.0.0.1:" + *port;
  }

  struct DataPlane {
    std::string id;
    std::unique_ptr<ChildProcess> proc;
    uint16_t port = 0;
  };
  DataPlane& StartDataPlane(const std::string& id) {
    dps_.push_back(DataPlane{id, std::make_unique<ChildProcess>(), 0});
    DataPlane& dp = dps_.back();
    EXPECT_TRUE(dp.proc->Start({CCR_RELAY_BINARY, "data-plane", "--control-plane", cp_addr_,
                                "--listen", "127.0.0.1:0", "--id", id, "--log-level", "debug"}))
        << dp.proc->error();
    const std::optional<std::string> port =
        dp.proc->WaitForValue(" listening address=127.0.0.1:", kStartTimeout);
    EXPECT_TRUE(port.has_value()) << dp.proc->log();
    dp.port = port.has_value() ? static_cast<uint16_t>(std::stoi(*port)) : 0;
    EXPECT_TRUE(dp.proc->WaitForLog("snapshot_applied version=", kSyncTimeout)) << id;
    return dp;
  }

  // The control plane and two data planes, dp1 and dp2.
  void StartRelay() {
    ASSERT_NO_FATAL_FAILURE(StartControlPlane());
    StartDataPlane("dp1");
    StartDataPlane("dp2");
    ASSERT_FALSE(HasFailure());
  }

  CommandResult Ctl(std::vector<std::string> args) {
    std::vector<std::string> full = {CCR_RELAYCTL_BINARY, "--control-plane", cp_addr_};
    full.insert(full.end(), args.begin(), args.end());
    return RunCommand(full);
  }
  nlohmann::json CtlJson(std::vector<std::string> args) {
    args.insert(args.begin(), {"--output", "json"});
    const CommandResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    nlohmann::json j = ParseJson(r.out);
    return j.is_discarded() ? nlohmann::json() : j;
  }
  // `users add NAME FLAGS...`: the relay key (shown once; never printed by this test).
  std::string AddUser(const std::string& name, std::vector<std::string> flags = {}) {
    std::vector<std::string> args = {"users", "add", name};
    args.insert(args.end(), flags.begin(), flags.end());
    const std::string key = CtlJson(args).value("key", std::string());
    EXPECT_EQ(key.rfind("ccr_", 0), 0u) << "users add " << name << " gave no relay key";
    return key;
  }
  uint64_t Version() {
    const nlohmann::json j = CtlJson({"config", "status"});
    const nlohmann::json& v = j["snapshot_version"];
    return v.is_string() ? std::stoull(v.get<std::string>()) : v.get<uint64_t>();
  }
  // Every data plane has applied the control plane's current version (from log offset `from`).
  void WaitAllApplied(const std::vector<size_t>& from, milliseconds timeout = kSyncTimeout) {
    const std::string line = "snapshot_applied version=" + std::to_string(Version());
    for (size_t i = 0; i < dps_.size(); ++i) {
      ASSERT_TRUE(dps_[i].proc->WaitForLog(line, timeout, from.empty() ? 0 : from[i]))
          << dps_[i].id << " did not apply " << line;
    }
  }
  std::vector<size_t> Offsets() const {
    std::vector<size_t> out;
    for (const auto& dp : dps_) {
      out.push_back(dp.proc->log_size());
    }
    return out;
  }

  // One non-streaming request with `key` through data plane `dp`.
  HttpResponse Send(const DataPlane& dp, const std::string& key, bool stream = false) {
    return Fetch(dp.port, "POST", "/v1/messages", ClientHeaders(key),
                 MessageBody("claude-test-1", stream), milliseconds(10000));
  }
  // Sends and records the answer (must be 200).
  void SendCounted(const DataPlane& dp, const std::string& user, const std::string& key,
                   std::vector<Answered>* answered) {
    const HttpResponse r = Send(dp, key);
    ASSERT_EQ(r.status, 200) << dp.id << " " << user << ": " << r.error << r.body;
    answered->push_back({user, ParseJson(r.body).value("id", std::string())});
  }

  // Waits until the database holds the usage of `n` requests.
  bool WaitForRequests(size_t n, milliseconds timeout = kUsageTimeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (RequestsIn(ReadUsage(db_path_)) < n) {
      if (std::chrono::steady_clock::now() > deadline) {
        return false;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    return true;
  }

  TempDir dir_;
  std::string config_path_;
  std::string db_path_;
  FakeUpstream fake_;
  UsageScript script_;
  std::unique_ptr<ChildProcess> cp_;
  std::vector<std::string> old_cp_logs_;
  std::string cp_addr_;
  std::vector<DataPlane> dps_;
};

TEST_F(TeamUsageTest, TwoUsersThroughTwoDataPlanesAreAttributedToTheToken) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  std::vector<size_t> offsets = Offsets();
  const std::string alice = AddUser("alice");
  const std::string bob = AddUser("bob");
  ASSERT_NO_FATAL_FAILURE(WaitAllApplied(offsets));

  std::vector<Answered> answered;
  for (int i = 0; i < 24; ++i) {
    const DataPlane& dp = dps_[static_cast<size_t>(i % 2)];
    const bool is_alice = (i / 2) % 3 != 2;  // alice two thirds, bob one third, on both
    ASSERT_NO_FATAL_FAILURE(SendCounted(dp, is_alice ? "alice" : "bob", is_alice ? alice : bob,
                                        &answered));
  }
  ASSERT_TRUE(WaitForRequests(answered.size()))
      << RequestsIn(ReadUsage(db_path_)) << " requests in the database";
  ExpectAttributed(answered, script_, ReadUsage(db_path_));

  // The same totals through cc-relayctl usage --by user.
  const nlohmann::json report = CtlJson({"usage", "--by", "user"});
  std::map<std::string, uint64_t> tokens;
  for (const Answered& a : answered) {
    tokens[a.user] += script_.Of(a.message_id)->tokens();
  }
  size_t seen = 0;
  for (const nlohmann::json& row : report["rows"]) {
    const std::string user = row.value("user", std::string());
    if (tokens.count(user) == 0) {
      continue;
    }
    ++seen;
    const auto n = [&](const char* field) {
      const nlohmann::json& v = row[field];
      return v.is_string() ? std::stoull(v.get<std::string>()) : v.get<uint64_t>();
    };
    EXPECT_EQ(n("input_tokens") + n("output_tokens") + n("cache_read_tokens") +
                  n("cache_creation_tokens"),
              tokens[user])
        << user << ": " << row.dump();
  }
  EXPECT_EQ(seen, 2u) << report.dump();
}

TEST_F(TeamUsageTest, ABudgetReachedMidStreamFinishesItAndRefusesTheNextOnBothDataPlanes) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  std::vector<size_t> offsets = Offsets();
  const std::string carol = AddUser("carol", {"--tokens-per-day", "1000"});
  ASSERT_NO_FATAL_FAILURE(WaitAllApplied(offsets));
  // Each data plane holds a grant for carol (500 tokens each).
  for (size_t i = 0; i < dps_.size(); ++i) {
    ASSERT_TRUE(
        dps_[i].proc->WaitForLog("budget_grants_applied grants=1", kSyncTimeout, offsets[i]))
        << dps_[i].id;
  }

  // A stream admitted with the whole share left reports 1300 tokens as it goes: it finishes.
  offsets = Offsets();
  const size_t cp_offset = cp_->log_size();
  SseOptions sse;
  sse.input_tokens = 400;
  sse.output_tokens = 900;
  sse.text_deltas = 5;
  sse.delay = milliseconds(20);
  StreamScriptOptions stream;
  stream.events = AnthropicSseEvents(sse);
  stream.delay = milliseconds(20);
  fake_.EnqueueHandler(StreamScript(stream));
  const HttpResponse streamed = Send(dps_[0], carol, /*stream=*/true);
  ASSERT_EQ(streamed.status, 200) << streamed.error << streamed.body;
  EXPECT_TRUE(streamed.complete);
  EXPECT_NE(streamed.body.find("message_stop"), std::string::npos) << streamed.body;

  // Its record is committed; every data plane gets the grant that says the budget is spent.
  ASSERT_TRUE(cp_->WaitForLog("usage_committed data_plane=dp1", kUsageTimeout, cp_offset));
  for (size_t i = 0; i < dps_.size(); ++i) {
    ASSERT_TRUE(dps_[i].proc->WaitForLog("budget_grants_applied", kSyncTimeout, offsets[i]))
        << dps_[i].id;
  }
  const size_t upstream_before = fake_.request_count();
  for (const auto& dp : dps_) {
    const HttpResponse refused = Send(dp, carol);
    EXPECT_NE(refused.status, 200) << dp.id;
    EXPECT_NE(refused.status, 429) << dp.id << ": the final budget error, not the retryable one";
    EXPECT_GE(refused.status, 400) << dp.id;
    EXPECT_NE(refused.body.find("budget of 1000 tokens reached for user carol"),
              std::string::npos)
        << dp.id << ": " << refused.body;
    EXPECT_NE(refused.body.find("resets "), std::string::npos) << refused.body;
  }
  EXPECT_EQ(fake_.request_count(), upstream_before) << "a refused request went upstream";
  // The stream's usage; the refused requests are counted too, without tokens.
  ASSERT_TRUE(WaitForRequests(1));
  const UsageSums sums = ReadUsage(db_path_);
  ASSERT_EQ(sums.size(), 1u);
  ASSERT_EQ(sums.begin()->first, "carol");
  for (const auto& [status, t] : sums.begin()->second) {
    if (status != 200) {
      EXPECT_EQ(t.input + t.output, 0u) << status;
    }
  }
  ASSERT_EQ(sums.begin()->second.count(200), 1u);
  const Totals& served = sums.begin()->second.at(200);
  EXPECT_EQ(served.requests, 1u);
  EXPECT_EQ(served.input, 400u);
  EXPECT_EQ(served.output, 900u);
}

TEST_F(TeamUsageTest, ARemovedUserIsRefusedWithinASecondOnBothDataPlanes) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  std::vector<size_t> offsets = Offsets();
  const std::string dave = AddUser("dave");
  const std::string erin = AddUser("erin");
  ASSERT_NO_FATAL_FAILURE(WaitAllApplied(offsets));
  for (const auto& dp : dps_) {
    ASSERT_EQ(Send(dp, dave).status, 200) << dp.id;
  }

  offsets = Offsets();
  const auto removed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(Ctl({"users", "remove", "dave"}).exit_code, 0);
  const std::string line = "snapshot_applied version=" + std::to_string(Version());
  for (size_t i = 0; i < dps_.size(); ++i) {
    const auto left = std::chrono::duration_cast<milliseconds>(
        removed_at + milliseconds(1000) - std::chrono::steady_clock::now());
    ASSERT_TRUE(dps_[i].proc->WaitForLog(line, std::max(left, milliseconds(0)), offsets[i]))
        << dps_[i].id << " did not apply the removal within a second";
  }
  const size_t upstream_before = fake_.request_count();
  for (const auto& dp : dps_) {
    const HttpResponse r = Send(dp, dave);
    EXPECT_EQ(r.status, 401) << dp.id << ": " << r.body;
    EXPECT_TRUE(IsAnthropicError(r.body, "authentication_error")) << r.body;
    EXPECT_NE(r.body.find("invalid relay key"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(dave), std::string::npos) << "the key was echoed";
  }
  EXPECT_EQ(fake_.request_count(), upstream_before);

  // The last teammate goes too: relay keys are no longer required and server.auth (open in this
  // config) decides for requests without one, but a removed teammate's key is still refused, not
  // let through as anonymous.
  offsets = Offsets();
  ASSERT_EQ(Ctl({"users", "remove", "erin"}).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(WaitAllApplied(offsets));
  for (const auto& dp : dps_) {
    for (const std::string* key : {&dave, &erin}) {
      const HttpResponse r = Send(dp, *key);
      EXPECT_EQ(r.status, 401) << dp.id << ": " << r.body;
      EXPECT_NE(r.body.find("invalid relay key"), std::string::npos) << r.body;
    }
  }
  EXPECT_EQ(fake_.request_count(), upstream_before);
}

TEST_F(TeamUsageTest, AControlPlaneKilledDuringWritesLosesAndDoubleCountsNothing) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  std::vector<size_t> offsets = Offsets();
  const std::vector<std::pair<std::string, std::string>> users = {{"erin", AddUser("erin")},
                                                                  {"frank", AddUser("frank")}};
  ASSERT_NO_FATAL_FAILURE(WaitAllApplied(offsets));

  // Four clients, one request in flight each, over both data planes and both users.
  std::mutex mu;
  std::vector<Answered> answered;
  std::vector<std::string> failures;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> clients;
  for (size_t c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (size_t i = c; !stop; ++i) {
        const auto& [user, key] = users[i % users.size()];
        const DataPlane& dp = dps_[(i / 2) % dps_.size()];
        const HttpResponse r = Send(dp, key);
        std::lock_guard<std::mutex> lock(mu);
        if (r.status == 200) {
          answered.push_back({user, ParseJson(r.body).value("id", std::string())});
        } else {
          failures.push_back(dp.id + ": " + std::to_string(r.status) + " " + r.error + r.body);
        }
        total.fetch_add(1);
      }
    });
  }
  const auto wait_total = [&](uint64_t n) {
    const auto deadline = std::chrono::steady_clock::now() + milliseconds(20000);
    while (total.load() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    return total.load() >= n;
  };

  // Records are being committed when the kill comes (the first are in, more keep coming).
  ASSERT_TRUE(WaitForRequests(1));
  ASSERT_TRUE(wait_total(total.load() + 100));
  ASSERT_EQ(cp_->Kill(), std::optional<int>(128 + SIGKILL));
  // The data planes keep answering (and keep their records) while it is down.
  ASSERT_TRUE(wait_total(total.load() + 100));
  ASSERT_NO_FATAL_FAILURE(StartControlPlane(cp_addr_));
  ASSERT_TRUE(wait_total(total.load() + 100));
  stop = true;
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();

  ASSERT_TRUE(WaitForRequests(answered.size()))
      << RequestsIn(ReadUsage(db_path_)) << " requests in the database of " << answered.size();
  // Every record the data planes kept while the control plane was down, or sent again because
  // the kill took the ack, is in once: the sums match the fake's log exactly.
  ExpectAttributed(answered, script_, ReadUsage(db_path_));
}

}  // namespace
}  // namespace ccrelay::testing
