#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

namespace ccrelay::testing {

// A one-shot event (absl::Notification with a timed wait): tests use it as a latch between the
// client side and a fake upstream's script, never a sleep.
class Notification {
 public:
  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      notified_ = true;
    }
    cv_.notify_all();
  }
  bool HasBeenNotified() const {
    std::lock_guard<std::mutex> lock(mu_);
    return notified_;
  }
  // True if notified before the timeout.
  bool WaitFor(std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return notified_; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool notified_ = false;
};

}  // namespace ccrelay::testing
