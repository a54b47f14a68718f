#include "tests/fakes/child_process.h"

#include <cerrno>
#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/fakes/temp_dir.h"

extern char** environ;

namespace ccrelay::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int DecodeStatus(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  return argv;
}

bool ContainsAll(std::string_view line, const std::vector<std::string>& needles) {
  for (const auto& n : needles) {
    if (line.find(n) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

ChildProcess::~ChildProcess() {
  if (running()) {
    Kill();
  }
  if (reader_.joinable()) {
    reader_.join();
  }
}

bool ChildProcess::Start(const std::vector<std::string>& args_in,
                         const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> args = args_in;
  std::vector<char*> argv = Argv(args);
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    bool overridden = false;
    for (const auto& [name, value] : env) {
      overridden = overridden || entry.starts_with(name + "=");
    }
    if (!overridden) {
      env_strings.emplace_back(entry);
    }
  }
  for (const auto& [name, value] : env) {
    env_strings.push_back(name + "=" + value);
  }
  std::vector<char*> envp = Argv(env_strings);
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
  const int rc =
      ::posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    pid_ = -1;
    error_ = "posix_spawn " + args[0] + ": " + std::strerror(rc);
    return false;
  }
  reader_ = std::thread([this, fd = pipe_fds[0]] { ReadLoop(fd); });
  return true;
}

void ChildProcess::ReadLoop(int fd) {
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

std::string ChildProcess::log() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

size_t ChildProcess::log_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_.size();
}

bool ChildProcess::WaitForLog(std::string_view needle, milliseconds timeout, size_t from) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    return log_.size() > from && log_.find(needle, from) != std::string::npos;
  });
}

std::optional<std::string> ChildProcess::WaitForValue(std::string_view prefix, milliseconds timeout,
                                                      size_t from) const {
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<std::string> value;
  cv_.wait_for(lock, timeout, [&] {
    const size_t at = log_.size() > from ? log_.find(prefix, from) : std::string::npos;
    if (at == std::string::npos) {
      return eof_;
    }
    const size_t begin = at + prefix.size();
    const size_t end = log_.find_first_of(" \n", begin);
    if (end == std::string::npos) {
      return eof_;  // the value has not fully arrived yet
    }
    value = log_.substr(begin, end - begin);
    return true;
  });
  return value;
}

std::vector<std::string> ChildProcess::LogLinesWith(const std::vector<std::string>& needles) const {
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

bool ChildProcess::WaitForLogLines(const std::vector<std::string>& needles, size_t count,
                                   milliseconds timeout) const {
  return WaitForText(
      [&](std::string_view text) {
        size_t n = 0;
        size_t pos = 0;
        while (pos < text.size()) {
          const size_t end = text.find('\n', pos);
          if (end == std::string_view::npos) {
            break;  // only complete lines
          }
          n += ContainsAll(text.substr(pos, end - pos), needles) ? 1 : 0;
          pos = end + 1;
        }
        return n >= count;
      },
      timeout);
}

bool ChildProcess::WaitForText(const std::function<bool(std::string_view log)>& done,
                               milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  bool ok = false;
  cv_.wait_for(lock, timeout, [&] {
    ok = done(log_);
    return ok || eof_;
  });
  return ok;
}

void ChildProcess::Signal(int sig) {
  if (running()) {
    ::kill(pid_, sig);
  }
}

std::optional<int> ChildProcess::WaitExit(milliseconds timeout) {
  if (exit_status_.has_value() || pid_ <= 0) {
    return exit_status_;
  }
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

std::optional<int> ChildProcess::Kill() {
  Signal(SIGKILL);
  return WaitExit(milliseconds(10000));
}

std::optional<int> ChildProcess::Stop(milliseconds grace) {
  if (!running()) {
    return exit_status_;
  }
  Signal(SIGTERM);
  auto status = WaitExit(grace);
  if (!status.has_value()) {
    status = Kill();
  }
  return status;
}

CommandResult RunCommand(const std::vector<std::string>& args_in, std::string_view stdin_data,
                         milliseconds timeout) {
  CommandResult result;
  std::vector<std::string> args = args_in;
  std::vector<char*> argv = Argv(args);
  // Standard input from a file: any size, and no writer that could block on a full pipe.
  TempDir dir;
  const std::string in_path = dir.WriteFile("stdin", stdin_data);
  int out_fds[2];
  int err_fds[2];
  if (::pipe2(out_fds, O_CLOEXEC) != 0 || ::pipe2(err_fds, O_CLOEXEC) != 0) {
    result.err = std::string("pipe2: ") + std::strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_fds[1], 2);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_fds[1]);
  ::close(err_fds[1]);
  if (rc != 0) {
    ::close(out_fds[0]);
    ::close(err_fds[0]);
    result.err = "posix_spawn " + args[0] + ": " + std::strerror(rc);
    return result;
  }
  const auto deadline = Clock::now() + timeout;
  pollfd fds[2] = {{out_fds[0], POLLIN, 0}, {err_fds[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open = 2;
  bool timed_out = false;
  while (open > 0) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    const int n = ::poll(fds, 2, static_cast<int>(left));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      char buf[4096];
      const ssize_t r = ::read(fds[i].fd, buf, sizeof(buf));
      if (r > 0) {
        sinks[i]->append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) {
      ::close(f.fd);
    }
  }
  if (timed_out) {
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = timed_out ? -1 : DecodeStatus(status);
  return result;
}

}  // namespace ccrelay::testing
