// Teammates over the Management API with the real cc-relayctl binary (issue 15): users add /
// list / get / disable / enable / set / rotate-key / remove with --output json; the relay key is
// shown once and never again (listings, config show, stats, logs); the read-only token reads
// and is refused every change; a relay key reads its own usage and nothing else; usage as a
// table, JSON and CSV from records in the database.
#include <mutex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "proto/snapshot.pb.h"
#include "proto/team.pb.h"

#include "controlplane/control_plane.h"
#include "controlplane/store/team_store.h"
#include "dataplane/common/log.h"
#include "dataplane/common/timestamps.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {
namespace {

using ccrelay::controlplane::ControlPlane;
using ccrelay::controlplane::ControlPlaneOptions;
using ::testing::HasSubstr;
using ::testing::Not;
namespace v1 = ccrelay::v1;

constexpr std::string_view kConfig = R"(health:
  checks:
    interval_ms: 0
providers:
  - name: anthropic
    type: anthropic
    keys:
      - key: sk-config-users-a
  - name: zai
    type: anthropic
)";

constexpr std::string_view kAdminToken = "admin-token-Qm3vX8";
constexpr std::string_view kReadOnlyToken = "read-only-token-Zt5pL2";

// Every log line of the control plane in this process (the test's own sink).
std::mutex g_log_mu;
std::string* g_log = new std::string();
void CaptureLog(std::string_view line) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  g_log->append(line);
  g_log->push_back('\n');
}
std::string Logged() {
  std::lock_guard<std::mutex> lock(g_log_mu);
  return *g_log;
}

nlohmann::json Json(const std::string& text) {
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

class UsersCtlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    common::SetLogSinkForTest(&CaptureLog);
    common::SetLogLevel(common::LogLevel::kDebug);
    admin_ = dir_.WriteFile("admin.token", std::string(kAdminToken) + "\n");
    read_only_ = dir_.WriteFile("ro.token", std::string(kReadOnlyToken) + "\n");
    ControlPlaneOptions o;
    o.config_path = dir_.WriteFile("config.yaml", kConfig);
    o.listen = "127.0.0.1:0";
    o.token_file = admin_;
    o.read_only_token_file = read_only_;
    o.db_path = dir_.path() + "/team.db";
    o.watch_config = false;
    auto cp = ControlPlane::Start(o);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = *std::move(cp);
  }
  void TearDown() override {
    cp_.reset();
    common::SetLogSinkForTest(nullptr);
    common::SetLogLevel(common::LogLevel::kInfo);
  }

  // cc-relayctl with the token in `token_file` ("" = none).
  CommandResult Ctl(const std::string& token_file, std::vector<std::string> args) {
    std::vector<std::string> full = {CCR_RELAYCTL_BINARY, "--control-plane",
                                     cp_->listen_address()};
    if (!token_file.empty()) {
      full.insert(full.end(), {"--token-file", token_file});
    }
    full.insert(full.end(), args.begin(), args.end());
    CommandResult r = RunCommand(full);
    outputs_ += r.output();
    return r;
  }
  nlohmann::json CtlJson(const std::string& token_file, std::vector<std::string> args) {
    args.insert(args.begin(), {"--output", "json"});
    const CommandResult r = Ctl(token_file, args);
    EXPECT_EQ(r.exit_code, 0) << r.output();
    nlohmann::json j = Json(r.out);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j.is_discarded() ? nlohmann::json() : j;
  }
  // Adds `name` as admin; returns the key.
  std::string AddUser(const std::string& name, std::vector<std::string> flags = {}) {
    std::vector<std::string> args = {"users", "add", name};
    args.insert(args.end(), flags.begin(), flags.end());
    nlohmann::json j = CtlJson(admin_, args);
    return j.value("key", std::string());
  }
  const v1::RelayUser* Published(const std::string& name) {
    snapshot_ = cp_->CurrentSnapshot();
    for (const v1::RelayUser& u : snapshot_->users().users()) {
      if (u.name() == name) {
        return &u;
      }
    }
    return nullptr;
  }

  static v1::UsageRecord Record(uint64_t seq, const std::string& user, const std::string& model,
                                const std::string& provider, int64_t unix_ms, uint64_t input,
                                uint64_t output, double cost, int status = 200) {
    v1::UsageRecord r;
    r.set_seq(seq);
    r.set_requests(1);
    r.set_user(user);
    r.set_provider(provider);
    r.set_key_fingerprint("abcd1234");
    r.set_model(model);
    r.set_status(status);
    r.set_unix_ms(unix_ms);
    r.set_input_tokens(input);
    r.set_output_tokens(output);
    r.set_cost_usd(cost);
    return r;
  }

  TempDir dir_;
  std::string admin_;
  std::string read_only_;
  std::unique_ptr<ControlPlane> cp_;
  std::shared_ptr<const v1::RoutingSnapshot> snapshot_;
  std::string outputs_;  // every cc-relayctl output of the test
};

TEST_F(UsersCtlTest, RoundTripAndTheKeyIsShownOnceOnly) {
  nlohmann::json added = CtlJson(admin_, {"users", "add", "alice", "--models", "claude-*",
                                          "--providers", "zai", "--usd-per-month", "50", "--soft",
                                          "0.8", "--rpm", "30"});
  const std::string key = added.value("key", std::string());
  ASSERT_EQ(key.size(), 47u) << added.dump();
  ASSERT_EQ(key.substr(0, 4), "ccr_");
  const std::string fp = added["user"].value("key_fingerprint", std::string());
  EXPECT_EQ(fp.size(), 8u);
  EXPECT_EQ(added["user"]["policy"]["allowed_models"][0], "claude-*");
  EXPECT_EQ(added["user"]["policy"]["budget"]["usd_per_month"], 50.0);
  EXPECT_EQ(added["user"]["enabled"], true);

  // In the snapshot every data plane gets: the hash, not the key.
  const v1::RelayUser* pub = Published("alice");
  ASSERT_NE(pub, nullptr);
  EXPECT_TRUE(pub->enabled());
  EXPECT_EQ(pub->key_fingerprint(), fp);
  EXPECT_EQ(pub->key_sha256().size(), 32u);
  EXPECT_EQ(pub->policy().rpm_limit(), 30u);
  EXPECT_TRUE(snapshot_->users().required());
  EXPECT_EQ(snapshot_->users().key_header(), "x-cc-relay-key");

  // The table form tells how to use the key.
  const CommandResult table = Ctl(admin_, {"users", "add", "bob"});
  ASSERT_EQ(table.exit_code, 0) << table.output();
  EXPECT_THAT(table.out, HasSubstr("ANTHROPIC_API_KEY"));
  EXPECT_THAT(table.out, HasSubstr("x-cc-relay-key"));
  EXPECT_THAT(table.out, HasSubstr("shown this once"));

  const size_t shown = outputs_.size();  // from here on, the keys must never appear
  nlohmann::json list = CtlJson(admin_, {"users", "list"});
  ASSERT_EQ(list["users"].size(), 2u) << list.dump();
  EXPECT_EQ(list["users"][0]["name"], "alice");
  EXPECT_EQ(list["users"][0]["key_fingerprint"], fp);
  EXPECT_EQ(list["users"][0]["budget_state"], "ok");
  EXPECT_EQ(CtlJson(admin_, {"users", "get", "alice"})["name"], "alice");

  // Disable: refused as a relay key at once (the snapshot says disabled).
  nlohmann::json disabled = CtlJson(admin_, {"users", "disable", "alice"});
  EXPECT_EQ(disabled["enabled"], false);
  EXPECT_FALSE(Published("alice")->enabled());
  nlohmann::json enabled = CtlJson(admin_, {"users", "enable", "alice"});
  EXPECT_EQ(enabled["enabled"], true);
  EXPECT_TRUE(Published("alice")->enabled());

  // set changes the flags given and keeps the rest.
  nlohmann::json set = CtlJson(admin_, {"users", "set", "alice", "--tpm", "1000"});
  EXPECT_EQ(set["policy"]["tpm_limit"], 1000);
  EXPECT_EQ(set["policy"]["rpm_limit"], 30);
  EXPECT_EQ(set["policy"]["allowed_models"][0], "claude-*");
  const CommandResult bad = Ctl(admin_, {"users", "set", "alice", "--providers", "nope"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(bad.err, HasSubstr("\"nope\""));
  const CommandResult reserved = Ctl(admin_, {"users", "add", "anonymous"});
  EXPECT_EQ(reserved.exit_code, 1);
  EXPECT_THAT(reserved.err, HasSubstr("reserved"));

  // Reads everywhere an operator looks: no key.
  for (std::vector<std::string> args :
       {std::vector<std::string>{"users", "list"}, {"users", "get", "alice"}, {"config", "show"},
        {"stats"}, {"providers", "list"}}) {
    for (const char* output : {"table", "json"}) {
      std::vector<std::string> a = {"--output", output};
      a.insert(a.end(), args.begin(), args.end());
      const CommandResult r = Ctl(admin_, a);
      EXPECT_EQ(r.exit_code, 0) << r.output();
    }
  }
  nlohmann::json stats = CtlJson(admin_, {"stats"});
  ASSERT_EQ(stats["users"].size(), 2u) << stats.dump();

  // Rotate: a new key, the old one no longer works.
  const std::string key_file = dir_.WriteFile("alice.key", key + "\n");
  const CommandResult who = Ctl(key_file, {"whoami"});
  ASSERT_EQ(who.exit_code, 0) << who.output();
  EXPECT_THAT(who.out, HasSubstr("user alice"));
  nlohmann::json rotated = CtlJson(admin_, {"users", "rotate-key", "alice"});
  const std::string new_key = rotated.value("key", std::string());
  ASSERT_EQ(new_key.size(), 47u);
  EXPECT_NE(new_key, key);
  EXPECT_NE(rotated["user"]["key_fingerprint"], fp);
  const size_t shown_again = outputs_.size();
  const CommandResult old = Ctl(key_file, {"whoami"});
  EXPECT_EQ(old.exit_code, 1);
  EXPECT_THAT(old.err, HasSubstr("UNAUTHENTICATED"));
  const std::string new_key_file = dir_.WriteFile("alice2.key", new_key + "\n");
  EXPECT_EQ(CtlJson(new_key_file, {"whoami"})["user"], "alice");

  // Remove: gone from the listing and the snapshot; its key refused.
  EXPECT_EQ(Ctl(admin_, {"users", "remove", "alice"}).exit_code, 0);
  EXPECT_EQ(Published("alice"), nullptr);
  EXPECT_EQ(CtlJson(admin_, {"users", "list"})["users"].size(), 1u);
  EXPECT_EQ(Ctl(new_key_file, {"whoami"}).exit_code, 1);
  const CommandResult missing = Ctl(admin_, {"users", "get", "alice"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("NOT_FOUND"));

  // Never again: ctl outputs after each key was shown, and every log line.
  EXPECT_THAT(outputs_.substr(shown), Not(HasSubstr(key)));
  EXPECT_THAT(outputs_.substr(shown_again), Not(HasSubstr(new_key)));
  const std::string logs = Logged();
  EXPECT_THAT(logs, HasSubstr("user_added"));
  EXPECT_THAT(logs, HasSubstr(fp));
  EXPECT_THAT(logs, Not(HasSubstr(key)));
  EXPECT_THAT(logs, Not(HasSubstr(new_key)));
  EXPECT_THAT(logs, Not(HasSubstr(key.substr(4, 20))));
}

TEST_F(UsersCtlTest, ReadOnlyTokenReadsAndIsRefusedEveryChange) {
  AddUser("carol");
  const std::string key_file = dir_.WriteFile("k.txt", "sk-ant-new-key-for-ro-test\n");
  for (std::vector<std::string> args : {std::vector<std::string>{"users", "add", "dave"},
                                        {"users", "disable", "carol"},
                                        {"users", "enable", "carol"},
                                        {"users", "remove", "carol"},
                                        {"users", "rotate-key", "carol"},
                                        {"providers", "disable", "zai"},
                                        {"keys", "add", "--provider", "zai", "--key-file", key_file},
                                        {"config", "reload"}}) {
    const CommandResult r = Ctl(read_only_, args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << " " << args[1] << ": " << r.output();
    EXPECT_THAT(r.err, HasSubstr("PERMISSION_DENIED")) << args[0] << " " << args[1];
    EXPECT_THAT(r.err, HasSubstr("read-only token may not call"));
  }
  // users set reads first (allowed), then is refused.
  const CommandResult set = Ctl(read_only_, {"users", "set", "carol", "--rpm", "1"});
  EXPECT_THAT(set.err, HasSubstr("PERMISSION_DENIED"));
  // Nothing changed.
  nlohmann::json list = CtlJson(admin_, {"users", "list"});
  ASSERT_EQ(list["users"].size(), 1u);
  EXPECT_EQ(list["users"][0]["enabled"], true);
  EXPECT_EQ(list["users"][0]["policy"]["rpm_limit"], 0);

  for (std::vector<std::string> args :
       {std::vector<std::string>{"users", "list"}, {"users", "get", "carol"}, {"usage"},
        {"providers", "list"}, {"keys", "list"}, {"dataplanes", "list"}, {"stats"},
        {"config", "show"}, {"config", "status"}, {"config", "validate"}}) {
    const CommandResult r = Ctl(read_only_, args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.output();
  }
  EXPECT_EQ(CtlJson(read_only_, {"whoami"})["role"], "read-only");
  EXPECT_EQ(CtlJson(admin_, {"whoami"})["role"], "admin");
  const CommandResult none = Ctl("", {"users", "list"});
  EXPECT_THAT(none.err, HasSubstr("UNAUTHENTICATED"));
}

TEST_F(UsersCtlTest, RelayKeySeesItsOwnUsageAndNothingElse) {
  const std::string alice = AddUser("alice");
  AddUser("bob");
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ASSERT_TRUE(cp_->store()
                  ->RecordUsage(
                      "dp-test/1",
                      {Record(1, "alice", "claude-sonnet-4", "anthropic", now - 1000, 100, 10, 0.5),
                       Record(2, "bob", "claude-opus-4", "anthropic", now - 900, 200, 20, 2.0),
                       Record(3, "alice", "glm-4.6", "zai", now - 800, 300, 30, 0.25)},
                      now)
                  .ok());
  const std::string key_file = dir_.WriteFile("alice.key", alice + "\n");
  EXPECT_EQ(CtlJson(key_file, {"whoami"})["role"], "user");

  nlohmann::json own = CtlJson(key_file, {"usage", "--by", "user"});
  ASSERT_EQ(own["rows"].size(), 1u) << own.dump();
  EXPECT_EQ(own["rows"][0]["user"], "alice");
  EXPECT_EQ(own["total"]["requests"], "2");
  EXPECT_DOUBLE_EQ(own["total"]["cost_usd"].get<double>(), 0.75);

  const CommandResult other = Ctl(key_file, {"usage", "--user", "bob"});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_THAT(other.err, HasSubstr("PERMISSION_DENIED"));
  for (std::vector<std::string> args :
       {std::vector<std::string>{"users", "list"}, {"users", "get", "alice"},
        {"providers", "list"}, {"stats"}, {"config", "show"}, {"users", "disable", "bob"}}) {
    const CommandResult r = Ctl(key_file, args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.output();
    EXPECT_THAT(r.err, HasSubstr("PERMISSION_DENIED")) << args[0];
    EXPECT_THAT(r.err, HasSubstr("only WhoAmI and GetUsage"));
  }
  // Disabled: the key is refused outright.
  ASSERT_EQ(Ctl(admin_, {"users", "disable", "alice"}).exit_code, 0);
  const CommandResult refused = Ctl(key_file, {"usage"});
  EXPECT_THAT(refused.err, HasSubstr("relay key disabled"));
  EXPECT_THAT(refused.output(), Not(HasSubstr(alice)));
}

TEST_F(UsersCtlTest, UsageAsTableJsonAndCsv) {
  const int64_t day1 = *common::ParseRfc3339Ms("2026-11-03T10:00:00Z");
  const int64_t day2 = *common::ParseRfc3339Ms("2026-11-04T11:00:00Z");
  ASSERT_TRUE(
      cp_->store()
          ->RecordUsage("dp-test/1",
                        {Record(1, "alice", "claude-sonnet-4", "anthropic", day1, 100, 10, 0.5),
                         Record(2, "bob", "claude-opus-4", "anthropic", day1, 200, 20, 2.0),
                         Record(3, "alice", "glm-4.6", "zai", day2, 300, 30, 0.25, 529),
                         Record(4, "anonymous", "glm-4.6", "zai", day2, 1, 1, 0.01)},
                        day2)
          .ok());
  const std::vector<std::string> range = {"--since", "2026-11-01", "--until", "2026-11-30"};
  auto with = [&range](std::vector<std::string> args) {
    args.insert(args.end(), range.begin(), range.end());
    return args;
  };

  nlohmann::json by_user = CtlJson(admin_, with({"usage", "--by", "user"}));
  ASSERT_EQ(by_user["rows"].size(), 3u) << by_user.dump();
  EXPECT_EQ(by_user["rows"][0]["user"], "alice");
  EXPECT_EQ(by_user["rows"][0]["requests"], "2");
  EXPECT_EQ(by_user["rows"][0]["errors"], "1");
  EXPECT_EQ(by_user["rows"][0]["input_tokens"], "400");
  EXPECT_EQ(by_user["total"]["requests"], "4");
  EXPECT_EQ(by_user["since_unix_ms"], std::to_string(*common::ParseRfc3339Ms("2026-11-01T00:00:00Z")));
  EXPECT_EQ(by_user["until_unix_ms"], std::to_string(*common::ParseRfc3339Ms("2026-12-01T00:00:00Z")));

  nlohmann::json alice = CtlJson(admin_, with({"usage", "--user", "alice", "--by", "day"}));
  ASSERT_EQ(alice["rows"].size(), 2u) << alice.dump();
  EXPECT_EQ(alice["rows"][0]["day"], "2026-11-03");
  EXPECT_EQ(alice["rows"][1]["day"], "2026-11-04");

  const CommandResult csv =
      Ctl(admin_, with({"--output", "csv", "usage", "--by", "user", "--by", "model"}));
  ASSERT_EQ(csv.exit_code, 0) << csv.output();
  EXPECT_THAT(csv.out, HasSubstr("USER,MODEL,REQUESTS,ERRORS,INPUT,OUTPUT,CACHE_READ,"
                                 "CACHE_WRITE,COST_USD\n"));
  EXPECT_THAT(csv.out, HasSubstr("alice,claude-sonnet-4,1,0,100,10,0,0,0.5000\n"));
  EXPECT_THAT(csv.out, HasSubstr("bob,claude-opus-4,1,0,200,20,0,0,2.0000\n"));
  EXPECT_THAT(csv.out, Not(HasSubstr("TOTAL")));

  const CommandResult table = Ctl(admin_, with({"usage", "--by", "provider"}));
  ASSERT_EQ(table.exit_code, 0) << table.output();
  EXPECT_THAT(table.out, HasSubstr("usage 2026-11-01T00:00:00Z .. 2026-12-01T00:00:00Z"));
  EXPECT_THAT(table.out, HasSubstr("PROVIDER"));
  EXPECT_THAT(table.out, HasSubstr("TOTAL"));
  EXPECT_THAT(table.out, HasSubstr("2.7600"));

  const CommandResult bad = Ctl(admin_, {"usage", "--by", "colour"});
  EXPECT_EQ(bad.exit_code, 2);
  const CommandResult bad_since = Ctl(admin_, {"usage", "--since", "yesterday"});
  EXPECT_EQ(bad_since.exit_code, 2);
}

// The flags of `cc-relay control-plane`: a database that cannot be opened and a read-only
// token without the admin token stop the start with a clear error.
TEST(UsersFlagsTest, DatabaseAndReadOnlyTokenErrorsStopTheStart) {
  TempDir dir;
  const std::string config = dir.WriteFile("config.yaml", kConfig);
  const std::string ro = dir.WriteFile("ro.token", "ro\n");
  const CommandResult no_db =
      RunCommand({CCR_RELAY_BINARY, "control-plane", "--config", config, "--listen", "127.0.0.1:0",
                  "--http-listen", "none", "--db", dir.path()});
  EXPECT_EQ(no_db.exit_code, 1) << no_db.output();
  EXPECT_THAT(no_db.err, HasSubstr("database " + dir.path()));
  const CommandResult ro_only =
      RunCommand({CCR_RELAY_BINARY, "control-plane", "--config", config, "--listen", "127.0.0.1:0",
                  "--http-listen", "none", "--db", "none", "--read-only-token-file", ro});
  EXPECT_EQ(ro_only.exit_code, 1) << ro_only.output();
  EXPECT_THAT(ro_only.err, HasSubstr("needs the admin token"));
  // A file at the default place that is not a database is not replaced by one in memory.
  dir.WriteFile("config.yaml.db", "this is not a database, and it is long enough to say so\n");
  const CommandResult garbage = RunCommand({CCR_RELAY_BINARY, "control-plane", "--config", config,
                                            "--listen", "127.0.0.1:0", "--http-listen", "none"});
  EXPECT_EQ(garbage.exit_code, 1) << garbage.output();
  EXPECT_THAT(garbage.err, HasSubstr("config.yaml.db"));
}

// Users persist in the database across a restart of the control plane (`--db FILE`).
TEST(UsersFlagsTest, UsersSurviveARestart) {
  TempDir dir;
  const std::string config = dir.WriteFile("config.yaml", kConfig);
  std::string key;
  for (int run = 0; run < 2; ++run) {
    ChildProcess cp;
    ASSERT_TRUE(cp.Start({CCR_RELAY_BINARY, "control-plane", "--config", config, "--listen",
                          "127.0.0.1:0", "--http-listen", "none", "--no-watch"}));
    std::optional<std::string> port =
        cp.WaitForValue(" control_plane_listening address=127.0.0.1:", std::chrono::seconds(15));
    ASSERT_TRUE(port.has_value()) << cp.log();
    const std::string addr = "127.0.0.1:" + *port;
    if (run == 0) {
      const CommandResult r = RunCommand({CCR_RELAYCTL_BINARY, "--control-plane", addr,
                                          "--output", "json", "users", "add", "frank"});
      ASSERT_EQ(r.exit_code, 0) << r.output();
      key = Json(r.out).value("key", std::string());
    } else {
      const CommandResult r = RunCommand(
          {CCR_RELAYCTL_BINARY, "--control-plane", addr, "--output", "json", "users", "list"});
      ASSERT_EQ(r.exit_code, 0) << r.output();
      EXPECT_EQ(Json(r.out)["users"][0]["name"], "frank") << r.out;
      EXPECT_THAT(cp.log(), HasSubstr("users=1"));
    }
    EXPECT_THAT(cp.log(), Not(HasSubstr(key)));
    cp.Stop();
  }
  EXPECT_TRUE(std::filesystem::exists(config + ".db"));
  EXPECT_EQ(std::filesystem::status(config + ".db").permissions() &
                (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
            std::filesystem::perms::none);
}

}  // namespace
}  // namespace ccrelay::testing
