// Several data planes, one key (issue 5): the control plane gives each connected data plane an
// equal share of every key limit and re-divides when one joins or leaves. Two real
// `cc-relay data-plane`s share a key with rpm_limit 6 (3 each): between them they send at most 6
// requests upstream, the rest get the relay's own 429 with retry-after; when one leaves, the
// other's share grows back to the whole limit.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

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

struct Dp {
  std::string id;
  std::unique_ptr<ChildProcess> proc;
  uint16_t port = 0;
};

class LimitShareTest : public ::testing::Test {
 public:
  void TearDown() override {
    for (auto& dp : dps_) {
      if (dp.proc->running()) {
        dp.proc->Stop(milliseconds(10000));
      }
    }
    if (cp_ != nullptr && cp_->running()) {
      cp_->Stop(milliseconds(10000));
    }
    if (HasFailure()) {
      if (cp_ != nullptr) {
        std::fprintf(stderr, "---- control plane ----\n%s\n", cp_->log().c_str());
      }
      for (auto& dp : dps_) {
        std::fprintf(stderr, "---- %s ----\n%s\n", dp.id.c_str(), dp.proc->log().c_str());
      }
    }
  }

  void StartControlPlane(const std::string& yaml) {
    config_path_ = dir_.path() + "/config.yaml";
    {
      std::ofstream out(config_path_, std::ios::binary | std::ios::trunc);
      out << yaml;
    }
    cp_ = std::make_unique<ChildProcess>();
    ASSERT_TRUE(cp_->Start({CCR_RELAY_BINARY, "control-plane", "--config", config_path_, "--listen",
                            "127.0.0.1:0", "--log-level", "debug"}))
        << cp_->error();
    const std::optional<std::string> port =
        cp_->WaitForValue("control_plane_listening address=127.0.0.1:", kStartTimeout);
    ASSERT_TRUE(port.has_value()) << "the control plane did not start";
    cp_addr_ = "127.0.0.1:" + *port;
  }

  void StartDataPlane(const std::string& id) {
    dps_.push_back(Dp{id, std::make_unique<ChildProcess>(), 0});
    Dp& dp = dps_.back();
    ASSERT_TRUE(dp.proc->Start({CCR_RELAY_BINARY, "data-plane", "--control-plane", cp_addr_,
                                "--listen", "127.0.0.1:0", "--id", id, "--log-level", "debug"}))
        << dp.proc->error();
    const std::optional<std::string> port =
        dp.proc->WaitForValue(" listening address=127.0.0.1:", kStartTimeout);
    ASSERT_TRUE(port.has_value()) << id << " did not start";
    dp.port = static_cast<uint16_t>(std::stoi(*port));
    ASSERT_TRUE(dp.proc->WaitForLog("snapshot_applied version=", kSyncTimeout))
        << id << " got no snapshot";
  }

  uint64_t ControlPlaneVersion() {
    const CommandResult r = RunCommand(
        {CCR_RELAYCTL_BINARY, "--control-plane", cp_addr_, "--output", "json", "config", "status"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    const nlohmann::json j = ParseJson(r.out);
    if (j.is_discarded() || !j.contains("snapshot_version")) {
      ADD_FAILURE() << r.out;
      return 0;
    }
    const nlohmann::json& v = j["snapshot_version"];
    return v.is_string() ? std::stoull(v.get<std::string>()) : v.get<uint64_t>();
  }

  TempDir dir_;
  std::string config_path_;
  std::unique_ptr<ChildProcess> cp_;
  std::string cp_addr_;
  std::vector<Dp> dps_;
};

// The retry-after of a 429, in seconds (-1 when missing or not a number).
int RetryAfter(const HttpResponse& r) {
  const std::optional<std::string> v = r.Header("retry-after");
  if (!v.has_value() || v->empty() || v->find_first_not_of("0123456789") != std::string::npos) {
    return -1;
  }
  return std::stoi(*v);
}

TEST_F(LimitShareTest, TwoDataPlanesShareOneKeysLimitAndRedivideWhenOneLeaves) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake, {"sk-ant-share-0001"});
  config.providers[0].keys[0].rpm_limit = 6;  // 3 for each of two data planes
  ASSERT_NO_FATAL_FAILURE(StartControlPlane(config.ToYaml()));
  ASSERT_NO_FATAL_FAILURE(StartDataPlane("dp1"));
  ASSERT_NO_FATAL_FAILURE(StartDataPlane("dp2"));
  // dp2's arrival re-divided the limit: both apply the version the control plane republished.
  const uint64_t divided = ControlPlaneVersion();
  for (const Dp& dp : dps_) {
    ASSERT_TRUE(
        dp.proc->WaitForLog("snapshot_applied version=" + std::to_string(divided), kSyncTimeout))
        << dp.id << " did not apply version " << divided;
  }

  // 4 clients, 8 requests each, alternating between the two data planes, as fast as they can.
  struct Result {
    size_t dp = 0;
    HttpResponse response;
  };
  std::mutex mu;
  std::vector<Result> results;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 8; ++i) {
        const size_t which = static_cast<size_t>(c + i) % 2;
        HttpResponse r = Fetch(dps_[which].port, "POST", "/v1/messages", ClientHeaders(),
                               MessageBody(), milliseconds(10000));
        std::lock_guard<std::mutex> lock(mu);
        results.push_back(Result{which, std::move(r)});
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  ASSERT_EQ(results.size(), 32u);
  size_t ok[2] = {0, 0};
  size_t limited = 0;
  for (const Result& r : results) {
    if (r.response.status == 200) {
      ++ok[r.dp];
      continue;
    }
    ASSERT_EQ(r.response.status, 429) << r.response.error << r.response.body;
    EXPECT_TRUE(IsAnthropicError(r.response.body, "rate_limit_error")) << r.response.body;
    // 3 a minute: the next request in (just under) 20 s.
    const int retry_after = RetryAfter(r.response);
    EXPECT_GE(retry_after, 15) << r.response.Header("retry-after").value_or("(none)");
    EXPECT_LE(retry_after, 20);
    ++limited;
  }
  EXPECT_LE(fake.request_count(), 6u) << "the two data planes exceeded the key's rpm_limit";
  // Each spent exactly its share: 3 (not the whole 6 that dp1 held alone before dp2 joined).
  EXPECT_EQ(ok[0], 3u);
  EXPECT_EQ(ok[1], 3u);
  EXPECT_EQ(limited, 26u);
  EXPECT_EQ(fake.request_count(), 6u);

  // dp2 leaves: dp1 gets the whole limit back (6 a minute refills twice as fast).
  const size_t offset = dps_[0].proc->log_size();
  ASSERT_EQ(dps_[1].proc->Stop(milliseconds(10000)), std::optional<int>(0));
  ASSERT_TRUE(cp_->WaitForLog("data_plane_disconnected id=dp2", kSyncTimeout));
  const uint64_t whole = ControlPlaneVersion();
  EXPECT_GT(whole, divided);
  ASSERT_TRUE(dps_[0].proc->WaitForLog("snapshot_applied version=" + std::to_string(whole),
                                       kSyncTimeout, offset))
      << "dp1 did not get the re-divided snapshot";
  HttpResponse r = Fetch(dps_[0].port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
  ASSERT_EQ(r.status, 429) << r.body;
  // The bucket's balance is kept (no new burst), but it refills at 6 a minute: under 10 s.
  const int retry_after = RetryAfter(r);
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 10) << "dp1's share did not grow back to the whole limit";
  EXPECT_EQ(fake.request_count(), 6u);
}

}  // namespace
}  // namespace ccrelay::testing
