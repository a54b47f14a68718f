#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {

// The real `cc-relay serve` as a child process: the config is written to a temp file, stdout and
// stderr are captured through a pipe (a reader thread keeps it drained), and the listening port is
// parsed from the log line containing "listening address=127.0.0.1:PORT".
// HOME and XDG_* point into the temp dir so no state leaks between tests.
class RelayProcess {
 public:
  RelayProcess() = default;
  ~RelayProcess();
  RelayProcess(const RelayProcess&) = delete;
  RelayProcess& operator=(const RelayProcess&) = delete;

  // Spawns `<binary> serve --config FILE --listen 127.0.0.1:0 --control-plane-listen 127.0.0.1:0
  // <extra_args...>` and waits for the listening line. False on failure (see error() and log()).
  bool Start(std::string_view yaml, const std::vector<std::string>& extra_args = {},
             std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& error() const { return error_; }
  const std::string& config_path() const { return config_path_; }

  // Everything the process wrote so far (stdout and stderr interleaved).
  std::string log() const;
  // Waits until the log contains `needle` (condition variable fed by the reader thread).
  bool WaitForLog(std::string_view needle, std::chrono::milliseconds timeout) const;
  // Waits until the log has at least `count` lines containing every one of `needles`.
  bool WaitForLogLines(const std::vector<std::string>& needles, size_t count,
                       std::chrono::milliseconds timeout) const;
  // Lines of the log that contain every one of `needles`.
  std::vector<std::string> LogLinesWith(const std::vector<std::string>& needles) const;

  void Signal(int sig);
  // Waits for the process to exit: its exit code, 128+signal if killed, nullopt on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status as WaitExit does.
  std::optional<int> Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  bool exited() const { return exit_status_.has_value(); }

 private:
  void ReadLoop(int fd);

  TempDir dir_;
  std::string config_path_;
  std::string error_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::optional<int> exit_status_;
  std::thread reader_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string log_;   // guarded by mu_
  bool eof_ = false;  // guarded by mu_
};

}  // namespace ccrelay::testing
