#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ccrelay::upstream {

// A deadline moved on every step of a request (each read, each write) and almost never reached.
// Moving it later, or clearing it, touches no Asio timer: the timer stays armed at the earlier
// time, and when it fires it finds the deadline moved and re-arms once. Only a deadline that
// moves earlier re-arms at once. (A cancel and re-arm per step costs an aborted handler run and,
// when the timer is the earliest, a timerfd update.) `Owner` is enable_shared_from_this: a
// waiting timer keeps its owner alive, so the owner calls Stop() when it is done.
template <class Owner>
class LazyDeadline {
 public:
  using Clock = std::chrono::steady_clock;

  LazyDeadline(const boost::asio::any_io_executor& executor, Owner& owner,
               void (Owner::*on_expiry)())
      : timer_(executor), owner_(owner), on_expiry_(on_expiry) {}

  // `on_expiry` runs once `d` from now has passed, unless Set, Clear or Stop comes first.
  void Set(std::chrono::milliseconds d) {
    deadline_ = Clock::now() + d;
    if (!armed_ || deadline_ < armed_at_) {
      Arm(deadline_);
    }
  }
  void Clear() { deadline_ = Clock::time_point::max(); }
  // Clears and gives back the timer's hold on the owner now (the owner is done with it).
  void Stop() {
    Clear();
    if (armed_) {
      armed_ = false;
      ++gen_;
      timer_.cancel();
    }
  }

 private:
  void Arm(Clock::time_point at) {
    armed_ = true;
    armed_at_ = at;
    const uint64_t gen = ++gen_;
    timer_.expires_at(at);
    timer_.async_wait([self = owner_.shared_from_this(), this, gen](
                          const boost::system::error_code& ec) {
      if (ec || gen != gen_) {
        return;  // re-armed or stopped meanwhile
      }
      armed_ = false;
      if (deadline_ == Clock::time_point::max()) {
        return;
      }
      if (Clock::now() < deadline_) {
        Arm(deadline_);  // moved later since: wait the rest
        return;
      }
      deadline_ = Clock::time_point::max();
      (owner_.*on_expiry_)();
    });
  }

  boost::asio::steady_timer timer_;
  Owner& owner_;
  void (Owner::*on_expiry_)();
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point armed_at_{};
  bool armed_ = false;
  uint64_t gen_ = 0;
};

}  // namespace ccrelay::upstream
