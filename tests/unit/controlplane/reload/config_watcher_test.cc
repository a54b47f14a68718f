#include "controlplane/reload/config_watcher.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::controlplane {
namespace {

using std::chrono::milliseconds;

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

// Waits (up to `limit`) until `calls` reaches `n`; true if it did.
bool WaitCalls(const std::atomic<int>& calls, int n, milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (calls.load() < n && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  return calls.load() >= n;
}

TEST(ConfigWatcherTest, ASaveIsSeenOnceAfterTheBurst) {
  testing::TempDir dir;
  const std::string config = dir.path() + "/config.yaml";
  Write(config, "a: 1\n");
  std::atomic<int> calls{0};
  auto watcher = ConfigWatcher::Start(config, milliseconds(50), [&] { ++calls; });
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  Write(config, "a: 2\n");
  Write(config, "a: 3\n");
  ASSERT_TRUE(WaitCalls(calls, 1, milliseconds(5000)));
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(calls.load(), 1) << "one burst, one call";
}

// Another file of the config's directory written without pause (a log, a state file written
// every few ms) does not hold a reload back: the call comes while the writes go on.
TEST(ConfigWatcherTest, WritesThatNeverPauseDoNotHoldTheCallBack) {
  testing::TempDir dir;
  const std::string config = dir.path() + "/config.yaml";
  Write(config, "a: 1\n");
  std::atomic<int> calls{0};
  auto watcher = ConfigWatcher::Start(config, milliseconds(50), [&] { ++calls; });
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    // A write every 10 ms (well inside the 50 ms debounce) for up to 10 s, ended by the test.
    for (int i = 0; i < 1000 && !stop; ++i) {
      Write(dir.path() + "/noise.log", std::to_string(i));
      ++writes;
      std::this_thread::sleep_for(milliseconds(10));
    }
  });
  const bool called = WaitCalls(calls, 1, milliseconds(8000));
  const bool writer_still_going = writes.load() < 1000;
  stop = true;
  writer.join();
  EXPECT_TRUE(called) << "no call while the directory kept changing";
  EXPECT_TRUE(writer_still_going) << "the call came only after the writes stopped";
}

}  // namespace
}  // namespace ccrelay::controlplane
