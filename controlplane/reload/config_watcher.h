#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace ccrelay::controlplane {

// Watches the DIRECTORY of a config file with inotify (so atomic rename-saves, editors that
// write a new file and rename it, and Kubernetes ConfigMap symlink swaps are all seen) and calls
// `on_change` on its own thread once no event has arrived for `debounce`, or at the latest
// kMaxDebounceFactor x `debounce` after the first event of a burst (another file of the
// directory written without pause must not hold a reload back forever). When the path is a
// symlink, the directory of its target is watched too. Events for other files of the directory
// also trigger the call: the callback compares the file's bytes (ConfigStore::ReloadIfChanged).
class ConfigWatcher {
 public:
  static constexpr int kMaxDebounceFactor = 10;

  static absl::StatusOr<std::unique_ptr<ConfigWatcher>> Start(const std::string& path,
                                                              std::chrono::milliseconds debounce,
                                                              std::function<void()> on_change);
  // Stops the thread (waits for a callback in progress).
  ~ConfigWatcher();
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

 private:
  ConfigWatcher(int inotify_fd, int stop_fd, std::chrono::milliseconds debounce,
                std::function<void()> on_change);
  void Run();

  const int inotify_fd_;
  const int stop_fd_;  // eventfd: written to stop the thread
  const std::chrono::milliseconds debounce_;
  const std::function<void()> on_change_;
  std::thread thread_;
};

}  // namespace ccrelay::controlplane
