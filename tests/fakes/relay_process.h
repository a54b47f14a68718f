#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "tests/fakes/child_process.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {

// The real `cc-relay serve` as a child process (a ChildProcess: stdout and stderr captured
// through a pipe that a reader thread keeps drained): the config is written to a temp file, and
// the listening port is parsed from the log line containing "listening address=127.0.0.1:PORT".
// HOME and XDG_* point into the temp dir so no state leaks between tests.
class RelayProcess {
 public:
  RelayProcess() = default;
  ~RelayProcess();  // SIGTERM (then SIGKILL) if still running
  RelayProcess(const RelayProcess&) = delete;
  RelayProcess& operator=(const RelayProcess&) = delete;

  // Spawns `<binary> serve --config FILE --listen 127.0.0.1:0 --control-plane-listen 127.0.0.1:0
  // <extra_args...>` and waits for the listening line. False on failure (see error() and log()).
  bool Start(std::string_view yaml, const std::vector<std::string>& extra_args = {},
             std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  // An environment variable for the next Start (on top of this process's and the temp dirs').
  // A second SetEnv of the same name replaces the first.
  void SetEnv(std::string name, std::string value) {
    for (auto& [n, v] : extra_env_) {
      if (n == name) {
        v = std::move(value);
        return;
      }
    }
    extra_env_.emplace_back(std::move(name), std::move(value));
  }
  // The per-test home directory (HOME), e.g. for ~/.aws files.
  std::string home() const { return dir_.path() + "/home"; }

  uint16_t port() const { return port_; }
  pid_t pid() const { return proc_.pid(); }
  const std::string& error() const { return error_.empty() ? proc_.error() : error_; }
  const std::string& config_path() const { return config_path_; }

  // Everything the process wrote so far (stdout and stderr interleaved).
  std::string log() const { return proc_.log(); }
  // Waits until the log contains `needle` (condition variable fed by the reader thread).
  bool WaitForLog(std::string_view needle, std::chrono::milliseconds timeout) const {
    return proc_.WaitForLog(needle, timeout);
  }
  // Waits until the log has at least `count` lines containing every one of `needles`.
  bool WaitForLogLines(const std::vector<std::string>& needles, size_t count,
                       std::chrono::milliseconds timeout) const {
    return proc_.WaitForLogLines(needles, count, timeout);
  }
  // Lines of the log that contain every one of `needles`.
  std::vector<std::string> LogLinesWith(const std::vector<std::string>& needles) const {
    return proc_.LogLinesWith(needles);
  }

  void Signal(int sig) { proc_.Signal(sig); }
  // Waits for the process to exit: its exit code, 128+signal if killed, nullopt on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout) { return proc_.WaitExit(timeout); }
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status as WaitExit does.
  std::optional<int> Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000)) {
    return proc_.Stop(grace);
  }
  bool exited() const { return proc_.pid() > 0 && !proc_.running(); }

 private:
  TempDir dir_;
  std::string config_path_;
  std::string error_;
  uint16_t port_ = 0;
  std::vector<std::pair<std::string, std::string>> extra_env_;
  ChildProcess proc_;  // last member: destroyed (killed, reader joined) first
};

}  // namespace ccrelay::testing
