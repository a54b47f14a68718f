#include "controlplane/webui/login_limiter.h"

#include <algorithm>

namespace ccrelay::controlplane::webui {

int64_t LoginLimiter::RetryAfterSeconds(std::string_view ip) {
  absl::MutexLock lock(&mu_);
  const auto it = clients_.find(ip);
  if (it == clients_.end() || it->second.count < kMaxFailures) {
    return 0;
  }
  // Full ring: the oldest of the last kMaxFailures failures leaves the window at oldest + kWindow.
  const common::MonoTime free_at = it->second.failures[it->second.next] + kWindow;
  const common::MonoTime now = clock_->Now();
  if (now >= free_at) {
    return 0;
  }
  const auto wait = std::chrono::ceil<std::chrono::seconds>(free_at - now);
  return std::max<int64_t>(1, wait.count());
}

void LoginLimiter::RecordFailure(std::string_view ip) {
  const common::MonoTime now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = clients_.find(ip);
  if (it == clients_.end()) {
    if (clients_.size() >= kMaxClients) {
      clients_.erase(std::min_element(
          clients_.begin(), clients_.end(),
          [](const auto& a, const auto& b) { return a.second.last < b.second.last; }));
    }
    it = clients_.emplace(std::string(ip), Client{}).first;
  }
  Client& c = it->second;
  c.failures[c.next] = now;
  c.next = (c.next + 1) % kMaxFailures;
  c.count = std::min(c.count + 1, kMaxFailures);
  c.last = now;
}

}  // namespace ccrelay::controlplane::webui
