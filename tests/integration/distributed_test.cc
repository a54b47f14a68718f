// The split deployment with real binaries on loopback: `cc-relay control-plane`, two
// `cc-relay data-plane`s and `cc-relayctl`, against fake upstreams. Config changes and runtime
// changes reach both data planes; a data plane keeps serving on its last snapshot when the
// control plane dies (kill -9) and re-syncs when it comes back; a key rotation under load fails
// no request; a snapshot a data plane cannot apply is NACKed; the token guards a listener beyond
// loopback.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include <nlohmann/json.hpp>

#include "dataplane/common/secret.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_config.h"
#include "tests/fakes/relay_fixture.h"
#include "tests/fakes/relay_process.h"
#include "tests/fakes/temp_dir.h"
#include "tests/fakes/test_ca.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kStartTimeout{10000};
constexpr milliseconds kSyncTimeout{5000};

// Writes a file the way an editor or a config-management tool does: a new file renamed over
// the old one (the control plane's watcher must see it).
void ReplaceFile(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << contents;
  }
  std::filesystem::rename(tmp, path);
}

uint64_t AsU64(const nlohmann::json& v) {
  if (v.is_string()) {
    return std::stoull(v.get<std::string>());
  }
  return v.is_number() ? v.get<uint64_t>() : 0;
}

// Clients sending /v1/messages in a loop to the data planes (round robin), each with one request
// in flight, until stopped. Every answer that is not a 200 is a failure, kept for the report.
class Load {
 public:
  Load(std::vector<uint16_t> ports, int clients)
      : ports_(std::move(ports)), done_(static_cast<size_t>(clients)) {
    for (int i = 0; i < clients; ++i) {
      threads_.emplace_back([this, i] { Loop(i); });
    }
  }
  ~Load() { Stop(); }

  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) {
        t.join();
      }
    }
  }

  uint64_t Total() const { return total_.load(); }
  std::vector<uint64_t> PerClient() const {
    std::vector<uint64_t> out;
    for (const auto& d : done_) {
      out.push_back(d.load());
    }
    return out;
  }
  std::vector<std::string> Failures() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

  // Waits until `pred(total)` holds (a client finishing a request re-checks it).
  bool WaitFor(const std::function<bool()>& pred, milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, pred);
  }
  // Waits until every client has finished at least one request started after this call: any
  // request in flight when it was called has ended by then.
  bool WaitForEveryClient(milliseconds timeout) const {
    const std::vector<uint64_t> start = PerClient();
    return WaitFor(
        [&] {
          for (size_t i = 0; i < start.size(); ++i) {
            if (done_[i].load() < start[i] + 2) {
              return false;
            }
          }
          return true;
        },
        timeout);
  }

 private:
  void Loop(int index) {
    size_t next = static_cast<size_t>(index);
    while (!stop_) {
      const uint16_t port = ports_[next++ % ports_.size()];
      HttpResponse r =
          Fetch(port, "POST", "/v1/messages", ClientHeaders(), MessageBody(), milliseconds(10000));
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (r.status != 200) {
          failures_.push_back("port " + std::to_string(port) + ": status " +
                              std::to_string(r.status) + " " + r.error + " " + r.body);
        }
        done_[static_cast<size_t>(index)].fetch_add(1);
        total_.fetch_add(1);
      }
      cv_.notify_all();
    }
  }

  const std::vector<uint16_t> ports_;
  std::vector<std::atomic<uint64_t>> done_;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> total_{0};
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<std::string> failures_;
};

struct DataPlaneProc {
  std::string id;
  std::unique_ptr<ChildProcess> proc;
  uint16_t port = 0;
  std::string admin;
};

class DistributedTest : public ::testing::Test {
 public:
  void SetUp() override {
    config_dir_ = dir_.path() + "/etc";
    std::filesystem::create_directories(config_dir_);
    config_path_ = config_dir_ + "/config.yaml";
  }

  void TearDown() override {
    for (auto& dp : dps_) {
      if (dp.proc->running()) {
        const std::optional<int> status = dp.proc->Stop(milliseconds(10000));
        EXPECT_EQ(status, std::optional<int>(0)) << dp.id << " did not exit cleanly on SIGTERM";
      }
    }
    if (cp_ != nullptr && cp_->running()) {
      EXPECT_EQ(cp_->Stop(milliseconds(10000)), std::optional<int>(0))
          << "the control plane did not exit cleanly on SIGTERM";
    }
    if (HasFailure()) {
      auto dump = [](const std::string& name, const std::string& log) {
        constexpr size_t kMax = 12000;
        std::string tail = log.size() > kMax ? "...\n" + log.substr(log.size() - kMax) : log;
        std::fprintf(stderr, "---- %s ----\n%s---- end of %s ----\n", name.c_str(), tail.c_str(),
                     name.c_str());
      };
      for (size_t i = 0; i < old_cp_logs_.size(); ++i) {
        dump("control plane (run " + std::to_string(i + 1) + ")", old_cp_logs_[i]);
      }
      if (cp_ != nullptr) {
        dump("control plane", cp_->log());
      }
      for (auto& dp : dps_) {
        dump(dp.id, dp.proc->log());
      }
    }
  }

  void WriteConfig(const std::string& yaml) { ReplaceFile(config_path_, yaml); }

  // Starts `cc-relay control-plane` on `listen` (default: a free loopback port; a restart passes
  // the previous address). Adds a fatal failure if it does not come up.
  void StartControlPlane(const std::vector<std::string>& extra = {},
                         std::string listen = "127.0.0.1:0") {
    if (cp_ != nullptr) {
      old_cp_logs_.push_back(cp_->log());
    }
    cp_ = std::make_unique<ChildProcess>();
    std::vector<std::string> args = {CCR_RELAY_BINARY, "control-plane", "--config",    config_path_,
                                     "--listen",       listen,          "--log-level", "debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(cp_->Start(args)) << cp_->error();
    const std::string host = listen.substr(0, listen.rfind(':'));
    const std::optional<std::string> port =
        cp_->WaitForValue("control_plane_listening address=" + host + ":", kStartTimeout);
    ASSERT_TRUE(port.has_value()) << "the control plane did not start:\n" << cp_->log();
    cp_port_ = *port;
    cp_addr_ = "127.0.0.1:" + *port;
  }

  // Starts `cc-relay data-plane` and waits for its first snapshot.
  DataPlaneProc& StartDataPlane(const std::string& id, const std::vector<std::string>& extra = {},
                                bool wait_for_snapshot = true) {
    dps_.push_back(DataPlaneProc{id, std::make_unique<ChildProcess>(), 0, ""});
    DataPlaneProc& dp = dps_.back();
    std::vector<std::string> args = {CCR_RELAY_BINARY,
                                     "data-plane",
                                     "--control-plane",
                                     cp_addr_,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--id",
                                     id,
                                     "--label",
                                     "zone=test",
                                     "--log-level",
                                     "debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_TRUE(dp.proc->Start(args)) << dp.proc->error();
    const std::optional<std::string> port =
        dp.proc->WaitForValue(" listening address=127.0.0.1:", kStartTimeout);
    EXPECT_TRUE(port.has_value()) << id << " did not start:\n" << dp.proc->log();
    if (!port.has_value()) {
      return dp;
    }
    dp.port = static_cast<uint16_t>(std::stoi(*port));
    dp.admin = dp.proc->WaitForValue("admin_address=", kStartTimeout).value_or("");
    if (wait_for_snapshot) {
      EXPECT_TRUE(dp.proc->WaitForLog("snapshot_applied version=", kSyncTimeout))
          << id << " got no snapshot:\n"
          << dp.proc->log();
    }
    return dp;
  }

  std::vector<uint16_t> DataPlanePorts() const {
    std::vector<uint16_t> ports;
    for (const auto& dp : dps_) {
      ports.push_back(dp.port);
    }
    return ports;
  }

  // cc-relayctl against the control plane.
  CommandResult Ctl(std::vector<std::string> args, std::string_view stdin_data = {}) {
    std::vector<std::string> full = {CCR_RELAYCTL_BINARY, "--control-plane", cp_addr_};
    full.insert(full.end(), args.begin(), args.end());
    return RunCommand(full, stdin_data);
  }
  // cc-relayctl -o json; adds a failure and returns null unless it exits 0 with JSON.
  nlohmann::json CtlJson(std::vector<std::string> args) {
    args.insert(args.begin(), {"--output", "json"});
    const CommandResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    nlohmann::json j = ParseJson(r.out);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j.is_discarded() ? nlohmann::json() : j;
  }

  uint64_t ControlPlaneVersion() {
    return AsU64(CtlJson({"config", "status"})["snapshot_version"]);
  }

  // Waits until every data plane has applied `version` (log, from byte offsets[i] on) and the
  // control plane has their ACK (dataplanes list).
  void WaitAllApplied(uint64_t version, const std::vector<size_t>& offsets,
                      milliseconds timeout = kSyncTimeout) {
    for (size_t i = 0; i < dps_.size(); ++i) {
      ASSERT_TRUE(dps_[i].proc->WaitForLog("snapshot_applied version=" + std::to_string(version),
                                           timeout, offsets.empty() ? 0 : offsets[i]))
          << dps_[i].id << " did not apply version " << version;
    }
    for (size_t i = 0; i < dps_.size(); ++i) {
      ASSERT_TRUE(cp_->WaitForLog(
          "snapshot_acked data_plane=" + dps_[i].id + " version=" + std::to_string(version),
          timeout))
          << "no ACK of version " << version << " from " << dps_[i].id;
    }
  }

  std::vector<size_t> DataPlaneLogOffsets() const {
    std::vector<size_t> out;
    for (const auto& dp : dps_) {
      out.push_back(dp.proc->log_size());
    }
    return out;
  }

  TempDir dir_;
  std::string config_dir_;
  std::string config_path_;
  std::unique_ptr<ChildProcess> cp_;
  std::vector<std::string> old_cp_logs_;
  std::string cp_port_;
  std::string cp_addr_;
  std::vector<DataPlaneProc> dps_;
};

RelayConfig OneProviderConfig(const FakeUpstream& fake, std::vector<std::string> keys) {
  RelayConfig config = OneProvider(fake, std::move(keys));
  config.timeouts.drain_ms = 2000;
  return config;
}

// Which key each upstream request carried, from request `from` on.
std::vector<std::string> KeysSeen(const FakeUpstream& fake, size_t from = 0) {
  std::vector<std::string> keys;
  const std::vector<RecordedRequest> requests = fake.requests();
  for (size_t i = from; i < requests.size(); ++i) {
    keys.push_back(requests[i].Header("x-api-key").value_or(""));
  }
  return keys;
}

TEST_F(DistributedTest, ConfigChangeIsServedByBothDataPlanesWithinASecond) {
  FakeUpstream before;
  FakeUpstream after;
  WriteConfig(OneProviderConfig(before, {"sk-ant-cfg-0001"}).ToYaml());
  ASSERT_NO_FATAL_FAILURE(StartControlPlane());
  StartDataPlane("dp1");
  StartDataPlane("dp2");
  ASSERT_FALSE(HasFailure());
  for (const auto& dp : dps_) {
    HttpResponse r = Fetch(dp.port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
    ASSERT_EQ(r.status, 200) << dp.id << ": " << r.error << r.body;
  }
  EXPECT_EQ(before.request_count(), 2u);

  const uint64_t v1 = ControlPlaneVersion();
  const std::vector<size_t> offsets = DataPlaneLogOffsets();
  const auto changed_at = std::chrono::steady_clock::now();
  WriteConfig(OneProviderConfig(after, {"sk-ant-cfg-0002"}).ToYaml());
  // Within a second of the write, both have applied the new version.
  for (size_t i = 0; i < dps_.size(); ++i) {
    const auto left = std::chrono::duration_cast<milliseconds>(changed_at + milliseconds(1000) -
                                                               std::chrono::steady_clock::now());
    ASSERT_TRUE(dps_[i].proc->WaitForLog("snapshot_applied version=" + std::to_string(v1 + 1),
                                         std::max(left, milliseconds(0)), offsets[i]))
        << dps_[i].id << " did not apply the change within a second";
  }
  for (const auto& dp : dps_) {
    HttpResponse r = Fetch(dp.port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
    ASSERT_EQ(r.status, 200) << dp.id << ": " << r.error << r.body;
  }
  EXPECT_EQ(before.request_count(), 2u) << "a data plane still used the old upstream";
  ASSERT_EQ(after.request_count(), 2u);
  EXPECT_EQ(KeysSeen(after), (std::vector<std::string>{"sk-ant-cfg-0002", "sk-ant-cfg-0002"}));
  WaitAllApplied(v1 + 1, offsets);

  // The control plane lists both with the new version acknowledged.
  const nlohmann::json list = CtlJson({"dataplanes", "list"});
  ASSERT_EQ(list["data_planes"].size(), 2u) << list.dump();
  for (const auto& d : list["data_planes"]) {
    EXPECT_TRUE(d["connected"].get<bool>()) << d.dump();
    EXPECT_EQ(AsU64(d["acked_version"]), v1 + 1) << d.dump();
    EXPECT_EQ(d["labels"]["zone"], "test");
    EXPECT_FALSE(d["admin_address"].get<std::string>().empty());
  }
}

TEST_F(DistributedTest, KillingTheControlPlaneFailsNoRequestAndBothResync) {
  FakeUpstream fake;
  WriteConfig(OneProviderConfig(fake, {"sk-ant-kill-0001"}).ToYaml());
  ASSERT_NO_FATAL_FAILURE(StartControlPlane());
  StartDataPlane("dp1");
  StartDataPlane("dp2");
  ASSERT_FALSE(HasFailure());
  const uint64_t v1 = ControlPlaneVersion();

  Load load(DataPlanePorts(), 6);
  ASSERT_TRUE(load.WaitFor([&] { return load.Total() >= 30; }, milliseconds(10000)));
  std::vector<size_t> offsets = DataPlaneLogOffsets();
  ASSERT_EQ(cp_->Kill(), std::optional<int>(128 + SIGKILL));
  for (size_t i = 0; i < dps_.size(); ++i) {
    EXPECT_TRUE(dps_[i].proc->WaitForLog("control_plane_disconnected", kSyncTimeout, offsets[i]))
        << dps_[i].id;
  }
  // Without a control plane both keep serving their last snapshot.
  const uint64_t at_kill = load.Total();
  ASSERT_TRUE(load.WaitFor([&] { return load.Total() >= at_kill + 60; }, milliseconds(15000)));
  for (const auto& dp : dps_) {
    HttpResponse health = Fetch(dp.port, "GET", "/health");
    EXPECT_EQ(health.status, 200) << dp.id;
    EXPECT_NE(health.body.find("\"snapshot_version\":" + std::to_string(v1)), std::string::npos)
        << health.body;
  }

  // The config changes while the control plane is down (new key). Back on the same address:
  // both reconnect (backoff), re-sync and acknowledge the restarted control plane's version.
  WriteConfig(OneProviderConfig(fake, {"sk-ant-kill-0002"}).ToYaml());
  offsets = DataPlaneLogOffsets();
  ASSERT_NO_FATAL_FAILURE(StartControlPlane({}, cp_addr_));
  for (size_t i = 0; i < dps_.size(); ++i) {
    ASSERT_TRUE(
        dps_[i].proc->WaitForLog("control_plane_connected", milliseconds(15000), offsets[i]))
        << dps_[i].id << " did not reconnect";
  }
  const uint64_t v2 = ControlPlaneVersion();
  EXPECT_GE(v2, v1) << "versions must not go backwards across a control-plane restart";
  ASSERT_NO_FATAL_FAILURE(WaitAllApplied(v2, offsets, milliseconds(15000)));
  // The restarted control plane learnt each one's last applied version from its hello.
  for (const auto& dp : dps_) {
    EXPECT_TRUE(cp_->WaitForLog("data_plane_connected id=" + dp.id, kSyncTimeout));
    const auto lines = cp_->LogLinesWith({"data_plane_connected id=" + dp.id});
    ASSERT_FALSE(lines.empty());
    EXPECT_NE(lines[0].find("last_applied_version=" + std::to_string(v1)), std::string::npos)
        << lines[0];
  }
  // Every request in flight at the re-sync ends; later ones use the new key on both.
  ASSERT_TRUE(load.WaitForEveryClient(milliseconds(15000)));
  const size_t resynced = fake.request_count();
  ASSERT_TRUE(
      load.WaitFor([&] { return fake.request_count() >= resynced + 30; }, milliseconds(15000)));
  load.Stop();
  for (const std::string& key : KeysSeen(fake, resynced)) {
    ASSERT_EQ(key, "sk-ant-kill-0002") << "a data plane did not re-sync";
  }
  EXPECT_TRUE(load.Failures().empty())
      << load.Failures().size() << " failed, first: " << load.Failures().front();
  const nlohmann::json list = CtlJson({"dataplanes", "list"});
  ASSERT_EQ(list["data_planes"].size(), 2u) << list.dump();
  for (const auto& d : list["data_planes"]) {
    EXPECT_TRUE(d["connected"].get<bool>()) << d.dump();
    EXPECT_EQ(AsU64(d["acked_version"]), v2) << d.dump();
  }
}

TEST_F(DistributedTest, KeyRotationUnderLoadFailsNoRequestAndSurvivesARestart) {
  const std::string old_key = "sk-ant-rotate-old-0001";
  const std::string new_key = "sk-ant-rotate-new-0002";
  FakeUpstream fake;
  WriteConfig(OneProviderConfig(fake, {old_key}).ToYaml());
  ASSERT_NO_FATAL_FAILURE(StartControlPlane());
  StartDataPlane("dp1");
  StartDataPlane("dp2");
  ASSERT_FALSE(HasFailure());

  Load load(DataPlanePorts(), 20);
  ASSERT_TRUE(load.WaitFor([&] { return load.Total() >= 60; }, milliseconds(15000)));
  const std::vector<size_t> offsets = DataPlaneLogOffsets();
  // The new key on standard input, never on the command line.
  const CommandResult rotated =
      Ctl({"keys", "rotate", "--provider", "a", common::FingerprintOf(old_key)}, new_key + "\n");
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out << rotated.err;
  EXPECT_NE(rotated.out.find(common::FingerprintOf(new_key)), std::string::npos) << rotated.out;
  EXPECT_EQ(rotated.out.find(new_key), std::string::npos) << "the key was echoed";
  const uint64_t version = ControlPlaneVersion();
  ASSERT_NO_FATAL_FAILURE(WaitAllApplied(version, offsets));
  // Rotation complete. Once every request in flight at that moment has ended, no upstream
  // request may carry the old key.
  ASSERT_TRUE(load.WaitForEveryClient(milliseconds(15000)));
  const size_t boundary = fake.request_count();
  ASSERT_TRUE(
      load.WaitFor([&] { return fake.request_count() >= boundary + 100; }, milliseconds(15000)));
  load.Stop();
  EXPECT_TRUE(load.Failures().empty())
      << load.Failures().size() << " failed, first: " << load.Failures().front();
  const std::vector<std::string> keys = KeysSeen(fake, boundary);
  ASSERT_GE(keys.size(), 100u);
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(keys[i], new_key) << "upstream request " << boundary + i
                                << " used the old key after the rotation completed";
  }
  const std::vector<std::string> all = KeysSeen(fake);
  EXPECT_EQ(all.front(), old_key);

  // The management API shows fingerprints only; the rotation persists across a restart.
  auto fingerprints = [&] {
    std::vector<std::string> fps;
    const nlohmann::json j = CtlJson({"keys", "list", "--provider", "a"});
    for (const auto& k : j["keys"]) {
      if (k["state"] != "draining") {
        fps.push_back(k["fingerprint"]);
      }
    }
    return fps;
  };
  EXPECT_EQ(fingerprints(), std::vector<std::string>{common::FingerprintOf(new_key)});
  const CommandResult listed = Ctl({"keys", "list"});
  EXPECT_EQ(listed.out.find(new_key), std::string::npos);
  EXPECT_EQ(listed.out.find(old_key), std::string::npos);

  const std::vector<size_t> before_restart = DataPlaneLogOffsets();
  ASSERT_EQ(cp_->Kill(), std::optional<int>(128 + SIGKILL));
  ASSERT_NO_FATAL_FAILURE(StartControlPlane({}, cp_addr_));
  EXPECT_EQ(fingerprints(), std::vector<std::string>{common::FingerprintOf(new_key)});
  for (size_t i = 0; i < dps_.size(); ++i) {
    ASSERT_TRUE(dps_[i].proc->WaitForLog("control_plane_connected", milliseconds(15000),
                                         before_restart[i]));
  }
  ASSERT_NO_FATAL_FAILURE(
      WaitAllApplied(ControlPlaneVersion(), before_restart, milliseconds(15000)));
  const size_t after_restart = fake.request_count();
  for (const auto& dp : dps_) {
    HttpResponse r = Fetch(dp.port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
    ASSERT_EQ(r.status, 200) << r.error << r.body;
  }
  EXPECT_EQ(KeysSeen(fake, after_restart), (std::vector<std::string>{new_key, new_key}));
  // No process ever logged a key.
  for (const std::string& log :
       {cp_->log(), old_cp_logs_.back(), dps_[0].proc->log(), dps_[1].proc->log()}) {
    EXPECT_EQ(log.find(old_key), std::string::npos);
    EXPECT_EQ(log.find(new_key), std::string::npos);
  }
}

TEST_F(DistributedTest, SnapshotADataPlaneCannotApplyIsNackedAndTheLastGoodOneServes) {
  std::string error;
  std::unique_ptr<TestPki> pki = TestPki::Create(&error);
  ASSERT_NE(pki, nullptr) << error;
  // Provider b trusts a private CA. The control plane checked the file when it loaded the
  // config; the data plane reads it again whenever it compiles a snapshot.
  const std::string ca_dir = dir_.path() + "/ca";
  std::filesystem::create_directories(ca_dir);
  const std::string ca_file = ca_dir + "/private-ca.pem";
  std::filesystem::copy_file(pki->ca_file(), ca_file);

  FakeUpstream fake;
  const std::string key1 = "sk-ant-nack-0001";
  const std::string key2 = "sk-ant-nack-0002";
  RelayConfig config = OneProviderConfig(fake, {key1});
  ProviderSpec b;
  b.name = "b";
  b.base_url = "https://localhost:" + std::to_string(UnusedPort());
  b.ca_file = ca_file;
  b.keys = {KeySpec{.key = "sk-ant-nack-b"}};
  config.providers.push_back(b);  // failover: a, then b
  WriteConfig(config.ToYaml());
  ASSERT_NO_FATAL_FAILURE(StartControlPlane());
  DataPlaneProc& dp = StartDataPlane("dp1");
  ASSERT_FALSE(HasFailure());
  const uint64_t good = ControlPlaneVersion();

  // The data plane's host loses the CA file; then a runtime change makes a new snapshot.
  std::filesystem::remove(ca_file);
  size_t offset = dp.proc->log_size();
  const CommandResult added = Ctl({"keys", "add", "--provider", "a"}, key2 + "\n");
  ASSERT_EQ(added.exit_code, 0) << added.out << added.err;
  const uint64_t rejected = ControlPlaneVersion();
  ASSERT_GT(rejected, good);
  ASSERT_TRUE(dp.proc->WaitForLog("snapshot_nacked version=" + std::to_string(rejected),
                                  kSyncTimeout, offset));
  ASSERT_TRUE(cp_->WaitForLog("snapshot_nacked data_plane=dp1 version=" + std::to_string(rejected),
                              kSyncTimeout));

  // The control plane knows: NACKed version, error, still on the last good one.
  const nlohmann::json list = CtlJson({"dataplanes", "list"});
  ASSERT_EQ(list["data_planes"].size(), 1u);
  const nlohmann::json& d = list["data_planes"][0];
  EXPECT_EQ(AsU64(d["acked_version"]), good) << d.dump();
  EXPECT_EQ(AsU64(d["nacked_version"]), rejected) << d.dump();
  EXPECT_NE(d["nack_error"].get<std::string>().find("ca_file"), std::string::npos) << d.dump();
  // So does the data plane's admin API.
  const CommandResult status = RunCommand(
      {CCR_RELAYCTL_BINARY, "--output", "json", "dataplane", "status", "--addr", dp.admin});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const nlohmann::json st = ParseJson(status.out);
  EXPECT_EQ(AsU64(st["snapshot_version"]), good) << status.out;
  EXPECT_NE(st["last_nack_error"].get<std::string>().find("ca_file"), std::string::npos);
  EXPECT_TRUE(st["control_plane_connected"].get<bool>());

  // It still serves the last good snapshot: only key1 exists there.
  const size_t from = fake.request_count();
  for (int i = 0; i < 6; ++i) {
    HttpResponse r = Fetch(dp.port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
    ASSERT_EQ(r.status, 200) << r.error << r.body;
  }
  EXPECT_EQ(KeysSeen(fake, from), std::vector<std::string>(6, key1));

  // The file is back: the next snapshot applies (key1 disabled, so only key2 serves).
  std::filesystem::copy_file(pki->ca_file(), ca_file);
  offset = dp.proc->log_size();
  const CommandResult disabled =
      Ctl({"keys", "disable", "--provider", "a", common::FingerprintOf(key1)});
  ASSERT_EQ(disabled.exit_code, 0) << disabled.out << disabled.err;
  const uint64_t next = ControlPlaneVersion();
  ASSERT_NO_FATAL_FAILURE(WaitAllApplied(next, {offset}));
  const size_t from2 = fake.request_count();
  for (int i = 0; i < 2; ++i) {
    HttpResponse r = Fetch(dp.port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
    ASSERT_EQ(r.status, 200) << r.error << r.body;
  }
  EXPECT_EQ(KeysSeen(fake, from2), std::vector<std::string>(2, key2));
}

TEST_F(DistributedTest, ManagementWithoutTheTokenIsRefusedOnANonLoopbackListener) {
  FakeUpstream fake;
  WriteConfig(OneProviderConfig(fake, {"sk-ant-token-0001"}).ToYaml());
  const std::string token_file = dir_.WriteFile("token", "s3cret-shared-token\n");

  // Beyond loopback without a token: refused at start.
  {
    ChildProcess bare;
    ASSERT_TRUE(bare.Start(
        {CCR_RELAY_BINARY, "control-plane", "--config", config_path_, "--listen", "0.0.0.0:0"}));
    EXPECT_EQ(bare.WaitExit(kStartTimeout), std::optional<int>(1)) << bare.log();
    EXPECT_NE(bare.log().find("token"), std::string::npos) << bare.log();
  }

  ASSERT_NO_FATAL_FAILURE(StartControlPlane({"--token-file", token_file}, "0.0.0.0:0"));
  // Reached through 127.0.0.1, but the listener is not loopback-only: no token, no answer.
  const CommandResult denied = Ctl({"providers", "list"});
  EXPECT_EQ(denied.exit_code, 1) << denied.out << denied.err;
  EXPECT_NE(denied.err.find("UNAUTHENTICATED"), std::string::npos) << denied.err;
  EXPECT_TRUE(denied.out.empty()) << denied.out;
  const std::string wrong_file = dir_.WriteFile("wrong-token", "not-the-token\n");
  const CommandResult wrong = Ctl({"--token-file", wrong_file, "keys", "list"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("UNAUTHENTICATED"), std::string::npos) << wrong.err;
  const CommandResult allowed = Ctl({"--token-file", token_file, "providers", "list"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;

  // A data plane without the token is refused too, and keeps trying; with it, it syncs.
  DataPlaneProc& stranger = StartDataPlane("dp-no-token", {}, /*wait_for_snapshot=*/false);
  EXPECT_TRUE(stranger.proc->WaitForLog("control_plane_unavailable", kSyncTimeout));
  EXPECT_TRUE(stranger.proc->WaitForLog("code=16", kSyncTimeout)) << stranger.proc->log();
  EXPECT_EQ(stranger.proc->log().find("snapshot_applied"), std::string::npos);
  HttpResponse unready =
      Fetch(stranger.port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
  EXPECT_EQ(unready.status, 503) << "a data plane without a snapshot must not serve";
  DataPlaneProc& member = StartDataPlane("dp-token", {"--token-file", token_file});
  HttpResponse r = Fetch(member.port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
  EXPECT_EQ(r.status, 200) << r.error << r.body;
  // Its admin API (which can drain it) wants the same token, even on loopback.
  const CommandResult no_token =
      RunCommand({CCR_RELAYCTL_BINARY, "dataplane", "drain", "--addr", member.admin});
  EXPECT_EQ(no_token.exit_code, 1) << no_token.out;
  EXPECT_NE(no_token.err.find("UNAUTHENTICATED"), std::string::npos) << no_token.err;
  const CommandResult admin = RunCommand({CCR_RELAYCTL_BINARY, "--token-file", token_file,
                                          "dataplane", "status", "--addr", member.admin});
  EXPECT_EQ(admin.exit_code, 0) << admin.err;
  EXPECT_NE(admin.out.find("dp-token"), std::string::npos) << admin.out;
}

// A Kubernetes preStop hook runs `dataplane drain --keep-running` inside the sidecar: the stream
// in flight finishes, no new connection is taken, and the process stays up (drained) until the
// SIGTERM the kubelet sends once the hook has returned; it then exits 0 at once. Without
// --keep-running the process would exit as soon as the drain ends, and in a container that kills
// the hook's own process with the PID namespace.
TEST_F(DistributedTest, DrainWithKeepRunningFinishesTheStreamThenWaitsForSigterm) {
  FakeUpstream fake;
  const std::vector<std::string> events = AnthropicSseEvents(SseOptions{});
  auto gate = std::make_shared<Notification>();
  fake.SetHandler(StreamScript(
      {.events = events, .gate = gate, .gate_after = 1, .gate_timeout = milliseconds(8000)}));
  WriteConfig(OneProviderConfig(fake, {"sk-ant-drain-0001"}).ToYaml());
  ASSERT_NO_FATAL_FAILURE(StartControlPlane());
  DataPlaneProc& dp = StartDataPlane("dp-prestop");
  ASSERT_FALSE(HasFailure());
  ASSERT_FALSE(dp.admin.empty()) << dp.proc->log();

  auto conn = HttpConnection::Connect(dp.port);
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(
      BuildRequest("POST", "/v1/messages", ClientHeaders(), MessageBody("claude-test-1", true))));
  SseSplitter splitter;
  size_t seen = 0;
  CommandResult drain;
  HttpResponse resp = conn->ReadResponse(milliseconds(10000), [&](std::string_view piece) {
    seen += splitter.Feed(piece).size();
    if (seen >= 1 && drain.exit_code == -1) {
      drain = RunCommand({CCR_RELAYCTL_BINARY, "dataplane", "drain", "--addr", dp.admin,
                          "--keep-running"});
      gate->Notify();
    }
    return true;
  });
  EXPECT_EQ(drain.exit_code, 0) << drain.output();
  EXPECT_NE(drain.out.find("draining (1 open connection(s))"), std::string::npos) << drain.out;
  EXPECT_TRUE(resp.complete) << "the stream in flight was cut by the drain: " << resp.error;
  std::string all;
  for (const auto& e : events) {
    all += e;
  }
  EXPECT_EQ(resp.body, all);

  // Drained: it says so, takes no connection, and is still up, its admin API answering.
  ASSERT_TRUE(dp.proc->WaitForLog("drained waiting_for=\"SIGTERM\"", milliseconds(10000)))
      << dp.proc->log();
  EXPECT_TRUE(dp.proc->running());
  EXPECT_EQ(HttpConnection::Connect(dp.port), nullptr);
  const CommandResult status = RunCommand(
      {CCR_RELAYCTL_BINARY, "--output", "json", "dataplane", "status", "--addr", dp.admin});
  ASSERT_EQ(status.exit_code, 0) << status.output();
  EXPECT_TRUE(nlohmann::json::parse(status.out).value("draining", false)) << status.out;

  dp.proc->Signal(SIGTERM);
  EXPECT_EQ(dp.proc->WaitExit(milliseconds(10000)), std::optional<int>(0)) << dp.proc->log();
  EXPECT_TRUE(dp.proc->WaitForLog("shutdown_requested", milliseconds(1000)));
}

TEST_F(DistributedTest, TlsAndTokenBetweenDataPlaneCtlAndControlPlane) {
  std::string error;
  std::unique_ptr<TestPki> pki = TestPki::Create(&error);
  ASSERT_NE(pki, nullptr) << error;
  FakeUpstream fake;
  WriteConfig(OneProviderConfig(fake, {"sk-ant-tls-0001"}).ToYaml());
  const std::string token_file = dir_.WriteFile("token", "tls-shared-token\n");
  ASSERT_NO_FATAL_FAILURE(
      StartControlPlane({"--token-file", token_file, "--tls-cert", pki->localhost().cert_file,
                         "--tls-key", pki->localhost().key_file}));
  DataPlaneProc& dp = StartDataPlane("dp-tls", {"--token-file", token_file, "--tls-ca",
                                                pki->ca_file(), "--tls-server-name", "localhost"});
  HttpResponse r = Fetch(dp.port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
  EXPECT_EQ(r.status, 200) << r.error << r.body;
  const CommandResult ok = Ctl({"--token-file", token_file, "--tls-ca", pki->ca_file(),
                                "--tls-server-name", "localhost", "dataplanes", "list"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("dp-tls"), std::string::npos) << ok.out;
  // Plaintext to a TLS listener fails (exit 1 with the gRPC code).
  const CommandResult plain =
      Ctl({"--token-file", token_file, "--timeout-ms", "2000", "dataplanes", "list"});
  EXPECT_EQ(plain.exit_code, 1) << plain.out;
  EXPECT_NE(plain.err.find("error: "), std::string::npos) << plain.err;
}

TEST_F(DistributedTest, CtlProvidersListShowsProvidersWithTheirState) {
  FakeUpstream fake;
  RelayConfig config = OneProviderConfig(fake, {"sk-ant-prov-0001"});
  ProviderSpec b = ProviderFor("backup", fake, {"sk-ant-prov-0002"});
  b.enabled = false;
  config.providers.push_back(b);
  WriteConfig(config.ToYaml());
  ASSERT_NO_FATAL_FAILURE(StartControlPlane());
  DataPlaneProc& dp = StartDataPlane("dp1");
  ASSERT_FALSE(HasFailure());

  // Table: a header, one row per provider with its state.
  CommandResult table = Ctl({"providers", "list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  auto row = [](const std::string& out, const std::string& name) {
    size_t pos = 0;
    while (pos < out.size()) {
      size_t end = out.find('\n', pos);
      if (end == std::string::npos) {
        end = out.size();
      }
      const std::string line = out.substr(pos, end - pos);
      if (line.rfind(name + " ", 0) == 0) {
        return line;
      }
      pos = end + 1;
    }
    return std::string();
  };
  EXPECT_NE(table.out.find("NAME"), std::string::npos) << table.out;
  EXPECT_NE(row(table.out, "a").find(" enabled "), std::string::npos) << table.out;
  EXPECT_NE(row(table.out, "backup").find(" disabled "), std::string::npos) << table.out;
  EXPECT_EQ(table.out.find("sk-ant-prov"), std::string::npos) << "a key was printed";

  // Disabling the only enabled provider is refused (exit 1, the gRPC code printed).
  const CommandResult refused = Ctl({"providers", "disable", "a"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("FAILED_PRECONDITION"), std::string::npos) << refused.err;
  // Usage errors exit 2.
  EXPECT_EQ(Ctl({"providers", "enable"}).exit_code, 2);
  EXPECT_EQ(Ctl({"providers", "frobnicate"}).exit_code, 2);
  EXPECT_EQ(
      Ctl({"keys", "add", "--provider", "a", "--key", "sk-ant-on-the-command-line"}).exit_code, 2);

  // Enabling reaches the data plane and persists across a restart.
  const size_t offset = dp.proc->log_size();
  ASSERT_EQ(Ctl({"providers", "enable", "backup"}).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(WaitAllApplied(ControlPlaneVersion(), {offset}));
  const CommandResult state = RunCommand(
      {CCR_RELAYCTL_BINARY, "--output", "json", "dataplane", "status", "--addr", dp.admin});
  ASSERT_EQ(state.exit_code, 0) << state.err;
  EXPECT_EQ(ParseJson(state.out)["providers"], nlohmann::json({"a", "backup"})) << state.out;
  ASSERT_TRUE(cp_->Stop(milliseconds(10000)).has_value());
  ASSERT_NO_FATAL_FAILURE(StartControlPlane({}, cp_addr_));
  const nlohmann::json j = CtlJson({"providers", "list"});
  ASSERT_EQ(j["providers"].size(), 2u) << j.dump();
  for (const auto& p : j["providers"]) {
    EXPECT_TRUE(p["enabled"].get<bool>()) << p.dump();
  }
  table = Ctl({"providers", "list"});
  EXPECT_NE(row(table.out, "backup").find(" enabled "), std::string::npos) << table.out;
}

TEST(ServeTest, ServeRunsItsDataPlaneThroughTheControlPlane) {
  FakeUpstream fake;
  RelayProcess relay;
  ASSERT_TRUE(relay.Start(OneProviderConfig(fake, {"sk-ant-serve-0001"}).ToYaml()))
      << relay.error() << relay.log();
  ASSERT_TRUE(relay.WaitForLog("control_plane_listening address=127.0.0.1:", milliseconds(1000)));
  const std::string log = relay.log();
  const size_t at = log.find("control_plane_listening address=127.0.0.1:");
  const std::string rest = log.substr(at + std::string("control_plane_listening address=").size());
  const std::string cp_addr = rest.substr(0, rest.find_first_of(" \n"));
  HttpResponse r = Fetch(relay.port(), "POST", "/v1/messages", ClientHeaders(), MessageBody());
  ASSERT_EQ(r.status, 200) << r.error << r.body;

  const CommandResult list = RunCommand(
      {CCR_RELAYCTL_BINARY, "--control-plane", cp_addr, "--output", "json", "dataplanes", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const nlohmann::json j = ParseJson(list.out);
  ASSERT_EQ(j["data_planes"].size(), 1u) << list.out;
  EXPECT_EQ(j["data_planes"][0]["listen_address"], "127.0.0.1:" + std::to_string(relay.port()));
  EXPECT_TRUE(j["data_planes"][0]["connected"].get<bool>());
  // A runtime change through the management API reaches the in-process data plane.
  const CommandResult added = RunCommand(
      {CCR_RELAYCTL_BINARY, "--control-plane", cp_addr, "keys", "add", "--provider", "a"},
      "sk-ant-serve-0002\n");
  ASSERT_EQ(added.exit_code, 0) << added.err;
  ASSERT_TRUE(relay.WaitForLog("snapshot_applied version=2", milliseconds(5000)));
  EXPECT_EQ(relay.Stop(milliseconds(10000)), std::optional<int>(0));
}

TEST_F(DistributedTest, OneDataPlanes401KeepsTheOtherOffTheKey) {
  // dp1 meets a revoked key; it reports it, the control plane checks the key at once, and the
  // verdict reaches dp2 in a snapshot before dp2 ever sends the key.
  std::mutex mu;
  std::set<std::string> refused;
  FakeUpstream fake;
  fake.SetHandler([&mu, &refused](const RecordedRequest& req, Responder& r) {
    bool no = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      no = refused.count(req.Header("x-api-key").value_or("")) != 0;
    }
    if (no) {
      r.Respond(401, {{"content-type", "application/json"}},
                AnthropicErrorJson("authentication_error", "invalid x-api-key"));
    } else if (req.method == "GET") {
      r.Respond(200, {{"content-type", "application/json"}}, R"({"data":[],"has_more":false})");
    } else {
      MessageScript()(req, r);
    }
  });
  const std::string flaky = "sk-ant-hc-flaky";
  const std::string steady = "sk-ant-hc-steady";
  RelayConfig config = OneProviderConfig(fake, {flaky, steady});
  config.health_check_interval_ms = 60000;  // one round at start, then only early checks
  WriteConfig(config.ToYaml());
  ASSERT_NO_FATAL_FAILURE(StartControlPlane());
  StartDataPlane("dp1");
  StartDataPlane("dp2");
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(fake.WaitForRequests(2, kSyncTimeout)) << "the first round probes both keys";
  std::this_thread::sleep_for(milliseconds(1100));  // HealthChecker::kMinEarlyGap
  {
    std::lock_guard<std::mutex> lock(mu);
    refused.insert(flaky);
  }
  auto posts_with = [&fake](const std::string& key, size_t from) {
    size_t n = 0;
    const auto requests = fake.requests();
    for (size_t i = from; i < requests.size(); ++i) {
      n += requests[i].method == "POST" && requests[i].Header("x-api-key") == key ? 1 : 0;
    }
    return n;
  };

  size_t mark = fake.request_count();
  for (int i = 0; i < 4; ++i) {
    HttpResponse r = Fetch(dps_[0].port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    EXPECT_EQ(r.Header("x-cc-relay-key"), common::FingerprintOf(steady));
  }
  ASSERT_EQ(posts_with(flaky, mark), 1u) << "dp1 met the 401 once";

  const std::vector<std::string> verdict = {"health_check",
                                            "key=\"" + common::FingerprintOf(flaky) + "\"",
                                            "state=\"auth_failed\""};
  ASSERT_TRUE(cp_->WaitForLog("state=\"auth_failed\"", kSyncTimeout)) << "no early check";
  const std::vector<std::string> lines = cp_->LogLinesWith(verdict);
  ASSERT_EQ(lines.size(), 1u);
  const size_t at = lines[0].find(" version=");
  ASSERT_NE(at, std::string::npos) << lines[0];
  const std::string version = std::to_string(std::stoull(lines[0].substr(at + 9)));
  ASSERT_TRUE(dps_[1].proc->WaitForLog("snapshot_applied version=" + version, kSyncTimeout));

  mark = fake.request_count();
  for (int i = 0; i < 6; ++i) {
    HttpResponse r = Fetch(dps_[1].port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    EXPECT_EQ(r.Header("x-cc-relay-key"), common::FingerprintOf(steady));
    EXPECT_EQ(r.Header("x-cc-relay-attempts"), "1");
  }
  EXPECT_EQ(posts_with(flaky, mark), 0u) << "dp2 never sent the revoked key";

  // The control plane shows what dp1 saw.
  const nlohmann::json keys = CtlJson({"keys", "list"});
  bool found = false;
  for (const auto& k : keys["keys"]) {
    if (k["fingerprint"] == common::FingerprintOf(flaky)) {
      found = true;
      EXPECT_EQ(k["state"], "auth_failed") << k.dump();
      EXPECT_EQ(k["check_state"], "auth_failed") << k.dump();
      EXPECT_NE(k["reason"].get<std::string>().find("dp1"), std::string::npos) << k.dump();
    }
  }
  EXPECT_TRUE(found) << keys.dump();
}

// A TCP hop that holds every new connection `delay` before it connects it through to `target`
// (a control plane far away, or a TLS handshake on a loaded host), then copies bytes both ways.
class SlowHandshakeHop {
 public:
  SlowHandshakeHop(uint16_t target, milliseconds delay) : target_(target), delay_(delay) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener_, 16) != 0) {
      return;
    }
    socklen_t len = sizeof(addr);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~SlowHandshakeHop() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    accept_thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) {
      ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : pipes_) {
      t.join();
    }
    for (int fd : fds_) {
      ::close(fd);
    }
  }
  uint16_t port() const { return port_; }

 private:
  void AcceptLoop() {
    while (!stop_) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) {
        return;
      }
      std::this_thread::sleep_for(delay_);
      const int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(target_);
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(client);
      fds_.push_back(server);
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::shutdown(client, SHUT_RDWR);
        continue;
      }
      pipes_.emplace_back([client, server] { Copy(client, server); });
      pipes_.emplace_back([client, server] { Copy(server, client); });
    }
  }
  static void Copy(int from, int to) {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::read(from, buf, sizeof(buf));
      if (n <= 0 || ::write(to, buf, static_cast<size_t>(n)) != n) {
        ::shutdown(to, SHUT_RDWR);
        ::shutdown(from, SHUT_RDWR);
        return;
      }
    }
  }

  uint16_t target_;
  milliseconds delay_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> pipes_;
};

// The data plane gives a connection to its control plane time to complete: a handshake slower
// than the 100 ms reconnect delay (here 400 ms before the control plane even sees the TCP
// connection) still connects. gRPC takes its connect deadline from the same channel argument as
// the minimum backoff, so tying the two made every attempt time out after 100 ms, forever.
TEST_F(DistributedTest, ADataPlaneConnectsThroughAHandshakeSlowerThanItsReconnectDelay) {
  FakeUpstream fake;
  WriteConfig(OneProviderConfig(fake, {"sk-test-slow-hop"}).ToYaml());
  ASSERT_NO_FATAL_FAILURE(StartControlPlane());
  SlowHandshakeHop hop(static_cast<uint16_t>(std::stoi(cp_port_)), milliseconds(400));
  ASSERT_NE(hop.port(), 0);
  const std::string direct = cp_addr_;
  cp_addr_ = "127.0.0.1:" + std::to_string(hop.port());
  DataPlaneProc& dp = StartDataPlane("dp-far");
  cp_addr_ = direct;
  ASSERT_TRUE(dp.proc->WaitForLog("snapshot_applied version=", kSyncTimeout));
  const HttpResponse r = Fetch(dp.port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
  EXPECT_EQ(r.status, 200) << r.error << r.body;
}

}  // namespace
}  // namespace ccrelay::testing
