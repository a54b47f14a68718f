#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace ccrelay::testing {

// Any child process (cc-relay control-plane / data-plane, cc-relayctl) with stdout and stderr
// captured through one pipe that a reader thread keeps drained. Waits are on a condition
// variable fed by that thread, with deadlines; nothing sleeps. The destructor kills a process
// still running (SIGKILL).
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Spawns args[0] with args (stdin /dev/null) and this process's environment, with `env`
  // (NAME, value) set on top. False (and error()) on failure.
  bool Start(const std::vector<std::string>& args,
             const std::vector<std::pair<std::string, std::string>>& env = {});

  pid_t pid() const { return pid_; }
  const std::string& error() const { return error_; }
  bool running() const { return pid_ > 0 && !exit_status_.has_value(); }

  // Everything written so far (stdout and stderr interleaved).
  std::string log() const;
  size_t log_size() const;
  // Waits until the log, from byte `from` on, contains `needle`.
  bool WaitForLog(std::string_view needle, std::chrono::milliseconds timeout,
                  size_t from = 0) const;
  // Waits for a line (from byte `from`) containing `prefix` directly followed by a value, and
  // returns that value (up to the next space or end of line), e.g. the port in
  // "listening address=127.0.0.1:PORT" with prefix " listening address=127.0.0.1:".
  std::optional<std::string> WaitForValue(std::string_view prefix,
                                          std::chrono::milliseconds timeout, size_t from = 0) const;
  // Lines containing every needle.
  std::vector<std::string> LogLinesWith(const std::vector<std::string>& needles) const;
  // Waits until at least `count` complete lines contain every one of `needles`.
  bool WaitForLogLines(const std::vector<std::string>& needles, size_t count,
                       std::chrono::milliseconds timeout) const;
  // Waits until `done(log)` holds (re-evaluated as output arrives); false on timeout or when the
  // output ended without it.
  bool WaitForText(const std::function<bool(std::string_view log)>& done,
                   std::chrono::milliseconds timeout) const;

  void Signal(int sig);
  // Exit code, 128+signal when killed, nullopt on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  // SIGKILL and reap.
  std::optional<int> Kill();
  // SIGTERM, wait up to `grace`, then SIGKILL.
  std::optional<int> Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));

 private:
  void ReadLoop(int fd);

  std::string error_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::thread reader_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string log_;   // guarded by mu_
  bool eof_ = false;  // guarded by mu_
};

// One command run to completion (cc-relayctl, promtool): `stdin_data` (any size) is its
// standard input.
struct CommandResult {
  int exit_code = -1;  // 128+signal if killed; -1 if it could not run or timed out
  std::string out;
  std::string err;
  std::string output() const { return out + err; }
};
CommandResult RunCommand(const std::vector<std::string>& args, std::string_view stdin_data = {},
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));

}  // namespace ccrelay::testing
