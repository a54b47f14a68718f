#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "absl/synchronization/mutex.h"

#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::webui {

// The dashboard's login rate limit: at most kMaxFailures failed logins per client IP in any
// kWindow (a sliding window: the times of its last kMaxFailures failures). Constant memory: at
// most kMaxClients IPs, the one whose last failure is oldest goes first. Successful logins are
// not counted. Thread-safe.
class LoginLimiter {
 public:
  static constexpr size_t kMaxFailures = 10;
  static constexpr std::chrono::seconds kWindow{60};
  static constexpr size_t kMaxClients = 1024;

  explicit LoginLimiter(const common::Clock* clock) : clock_(clock) {}

  // Whole seconds (at least 1) until `ip` may try again; 0 = it may try now.
  int64_t RetryAfterSeconds(std::string_view ip);
  // A failed login from `ip`.
  void RecordFailure(std::string_view ip);

  size_t clients() {
    absl::MutexLock lock(&mu_);
    return clients_.size();
  }

 private:
  struct Client {
    std::array<common::MonoTime, kMaxFailures> failures{};  // a ring, oldest at `next`
    size_t count = 0;
    size_t next = 0;
    common::MonoTime last{};
  };

  const common::Clock* const clock_;
  absl::Mutex mu_;
  std::map<std::string, Client, std::less<>> clients_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ccrelay::controlplane::webui
