#include "tests/fakes/relay_process.h"

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace ccrelay::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The listening line in the text and in the JSON log format (--log-format json). The leading
// space keeps "control_plane_listening address=..." (the gRPC port) from matching.
constexpr std::string_view kListenMarkers[] = {" listening address=127.0.0.1:",
                                               R"("event":"listening","address":"127.0.0.1:)"};

bool ContainsAll(std::string_view line, const std::vector<std::string>& needles) {
  for (const auto& n : needles) {
    if (line.find(n) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

size_t CountLinesWith(std::string_view text, const std::vector<std::string>& needles) {
  size_t count = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      break;  // only complete lines
    }
    if (ContainsAll(text.substr(pos, end - pos), needles)) {
      ++count;
    }
    pos = end + 1;
  }
  return count;
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

}  // namespace

RelayProcess::~RelayProcess() {
  if (pid_ > 0 && !exit_status_.has_value()) {
    Stop(milliseconds(3000));
  }
  if (reader_.joinable()) {
    reader_.join();
  }
}

bool RelayProcess::Start(std::string_view yaml, const std::vector<std::string>& extra_args,
                         milliseconds timeout) {
  if (dir_.path().empty()) {
    error_ = "no temp dir";
    return false;
  }
  config_path_ = dir_.WriteFile("config.yaml", yaml);
  for (const char* sub : {"/home", "/config", "/state", "/data", "/cache"}) {
    std::error_code ec;
    std::filesystem::create_directories(dir_.path() + sub, ec);
  }

  // The control plane's gRPC port too is picked by the OS, so relays started at once by parallel
  // tests never collide on the default 127.0.0.1:8788 (nor on the HTTP listener's 127.0.0.1:8789).
  std::vector<std::string> args = {CCR_RELAY_BINARY, "serve",
                                   "--config",       config_path_,
                                   "--listen",       "127.0.0.1:0",
                                   "--control-plane-listen", "127.0.0.1:0",
                                   "--control-plane-http-listen", "127.0.0.1:0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);

  std::vector<std::string> env_strings;
  const std::vector<std::pair<std::string, std::string>> overrides = {
      {"HOME", dir_.path() + "/home"},
      {"XDG_CONFIG_HOME", dir_.path() + "/config"},
      {"XDG_STATE_HOME", dir_.path() + "/state"},
      {"XDG_DATA_HOME", dir_.path() + "/data"},
      {"XDG_CACHE_HOME", dir_.path() + "/cache"},
  };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool overridden = false;
    for (const auto& [name, value] : overrides) {
      if (entry.rfind(name + "=", 0) == 0) {
        overridden = true;
      }
    }
    if (!overridden) {
      env_strings.emplace_back(entry);
    }
  }
  for (const auto& [name, value] : overrides) {
    env_strings.push_back(name);
    env_strings.back().append("=").append(value);
  }
  std::vector<char*> envp;
  for (auto& e : env_strings) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    error_ = std::string("pipe2: ") + std::strerror(errno);
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  const int rc = ::posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    pid_ = -1;
    error_ = std::string("posix_spawn ") + args[0] + ": " + std::strerror(rc);
    return false;
  }
  reader_ = std::thread([this, fd = pipe_fds[0]] { ReadLoop(fd); });

  // Wait for the listening line (or the process dying).
  const auto deadline = Clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    for (std::string_view marker : kListenMarkers) {
      const size_t at = log_.find(marker);
      if (at == std::string::npos) {
        continue;
      }
      const size_t digits = at + marker.size();
      size_t end = digits;
      while (end < log_.size() && std::isdigit(static_cast<unsigned char>(log_[end])) != 0) {
        ++end;
      }
      if (end < log_.size() && end > digits) {  // the whole number has arrived
        port_ = static_cast<uint16_t>(std::atoi(log_.c_str() + digits));
        return port_ != 0;
      }
    }
    if (eof_) {
      error_ = "cc-relay exited before listening";
      break;
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      error_ = "timed out waiting for the listening line";
      break;
    }
  }
  lock.unlock();
  return false;
}

void RelayProcess::ReadLoop(int fd) {
  char buf[8192];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (n <= 0) {
      eof_ = true;
      cv_.notify_all();
      break;
    }
    log_.append(buf, static_cast<size_t>(n));
    cv_.notify_all();
  }
  ::close(fd);
}

std::string RelayProcess::log() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

bool RelayProcess::WaitForLog(std::string_view needle, milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return log_.find(needle) != std::string::npos; });
}

bool RelayProcess::WaitForLogLines(const std::vector<std::string>& needles, size_t count,
                                   milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    return CountLinesWith(log_, needles) >= count || eof_;
  }) && CountLinesWith(log_, needles) >= count;
}

std::vector<std::string> RelayProcess::LogLinesWith(const std::vector<std::string>& needles) const {
  const std::string text = log();
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) {
      end = text.size();
    }
    std::string_view line(text.data() + pos, end - pos);
    if (ContainsAll(line, needles)) {
      out.emplace_back(line);
    }
    pos = end + 1;
  }
  return out;
}

void RelayProcess::Signal(int sig) {
  if (pid_ > 0 && !exit_status_.has_value()) {
    ::kill(pid_, sig);
  }
}

std::optional<int> RelayProcess::WaitExit(milliseconds timeout) {
  if (exit_status_.has_value() || pid_ <= 0) {
    return exit_status_;
  }
  // The pipe reaches EOF when the process exits (it is the only writer).
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return eof_; })) {
      return std::nullopt;
    }
  }
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_status_ = DecodeStatus(status);
  }
  if (reader_.joinable()) {
    reader_.join();
  }
  return exit_status_;
}

std::optional<int> RelayProcess::Stop(milliseconds grace) {
  if (pid_ <= 0) {
    return std::nullopt;
  }
  if (exit_status_.has_value()) {
    return exit_status_;
  }
  Signal(SIGTERM);
  auto status = WaitExit(grace);
  if (!status.has_value()) {
    ::kill(pid_, SIGKILL);
    status = WaitExit(milliseconds(5000));
  }
  return status;
}

}  // namespace ccrelay::testing
