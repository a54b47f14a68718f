#pragma once

#include <chrono>
#include <cstdint>

namespace ccrelay::common {

using MonoTime = std::chrono::steady_clock::time_point;

// Injected where a test needs to control time (Envoy's TimeSource).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime Now() const = 0;
  virtual int64_t UnixMillis() const = 0;
};

class RealClock : public Clock {
 public:
  // common::Clock
  MonoTime Now() const override { return std::chrono::steady_clock::now(); }
  int64_t UnixMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  static const RealClock& Get() {
    static const RealClock clock;
    return clock;
  }
};

}  // namespace ccrelay::common
