#include "controlplane/reload/config_watcher.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "dataplane/common/log.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane {
namespace {

constexpr uint32_t kDirMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                              IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

// Thread-safe, unlike strerror.
std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

std::string DirOf(const std::filesystem::path& p) {
  std::string dir = p.parent_path().string();
  return dir.empty() ? std::string(".") : dir;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConfigWatcher>> ConfigWatcher::Start(
    const std::string& path, std::chrono::milliseconds debounce, std::function<void()> on_change) {
  const int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ifd < 0) {
    return absl::UnavailableError(common::StrCat("inotify_init1: ", ErrnoText(errno)));
  }
  const std::string dir = DirOf(path);
  if (inotify_add_watch(ifd, dir.c_str(), kDirMask) < 0) {
    const int err = errno;
    close(ifd);
    return absl::UnavailableError(common::StrCat("cannot watch ", dir, ": ", ErrnoText(err)));
  }
  std::error_code ec;
  const std::filesystem::path target = std::filesystem::canonical(path, ec);
  if (!ec) {
    const std::string target_dir = DirOf(target);
    std::error_code ec2;
    if (!std::filesystem::equivalent(target_dir, dir, ec2)) {
      // Best effort: a ConfigMap's target directory is replaced on every update; the swap of
      // the `..data` link in `dir` is what announces it.
      (void)inotify_add_watch(ifd, target_dir.c_str(), kDirMask);
    }
  }
  const int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) {
    const int err = errno;
    close(ifd);
    return absl::UnavailableError(common::StrCat("eventfd: ", ErrnoText(err)));
  }
  std::unique_ptr<ConfigWatcher> w(new ConfigWatcher(ifd, efd, debounce, std::move(on_change)));
  w->thread_ = std::thread([raw = w.get()] { raw->Run(); });
  CCR_LOG(kDebug, "config_watch_started", common::Q("directory", dir));
  return w;
}

ConfigWatcher::ConfigWatcher(int inotify_fd, int stop_fd, std::chrono::milliseconds debounce,
                             std::function<void()> on_change)
    : inotify_fd_(inotify_fd),
      stop_fd_(stop_fd),
      debounce_(debounce),
      on_change_(std::move(on_change)) {}

ConfigWatcher::~ConfigWatcher() {
  const uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) {
    thread_.join();
  }
  close(inotify_fd_);
  close(stop_fd_);
}

void ConfigWatcher::Run() {
  bool pending = false;
  auto due = std::chrono::steady_clock::now();
  auto latest = due;  // the latest call for the burst of events in progress
  alignas(inotify_event) std::array<char, 8192> buf;
  for (;;) {
    int timeout_ms = -1;
    if (pending) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          due - std::chrono::steady_clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    std::array<pollfd, 2> fds = {{{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}}};
    const int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      CCR_LOG(kError, "config_watch_failed", common::Q("error", ErrnoText(errno)));
      return;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      return;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      // Drain every queued event; which file it names does not matter (see the header).
      while (read(inotify_fd_, buf.data(), buf.size()) > 0) {
      }
      const auto now = std::chrono::steady_clock::now();
      if (!pending) {
        latest = now + kMaxDebounceFactor * debounce_;
      }
      pending = true;
      due = std::min(now + debounce_, latest);
      continue;
    }
    if (pending && std::chrono::steady_clock::now() >= due) {
      pending = false;
      on_change_();
    }
  }
}

}  // namespace ccrelay::controlplane
