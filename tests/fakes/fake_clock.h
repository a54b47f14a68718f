#pragma once

#include <chrono>
#include <cstdint>

#include "dataplane/common/clock.h"

namespace ccrelay::testing {

// A Clock tests move by hand (Envoy's SimulatedTimeSystem, reduced): monotonic and wall time
// advance together, and only when Advance() is called.
class FakeClock : public common::Clock {
 public:
  // An arbitrary start far from the epoch, so "zero" time points are clearly in the past.
  static constexpr int64_t kStartUnixMs = 1'800'000'000'000;  // 2027-01-15T08:00:00Z

  // common::Clock
  common::MonoTime Now() const override { return now_; }
  int64_t UnixMillis() const override {
    return kStartUnixMs +
           std::chrono::duration_cast<std::chrono::milliseconds>(now_ - start_).count();
  }

  void Advance(std::chrono::nanoseconds d) { now_ += d; }
  common::MonoTime start() const { return start_; }

 private:
  common::MonoTime start_{std::chrono::hours(10000)};
  common::MonoTime now_{start_};
};

}  // namespace ccrelay::testing
