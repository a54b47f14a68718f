#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>

namespace ccrelay::common {

// Jittered exponential backoff (gRPC's connection-backoff shape): the n-th delay is drawn
// uniformly from [base/2, base] with base = min(max, initial * 2^n). Reset() after a success.
// `random` returns a value in [0, 1); it is injected so tests are deterministic.
class JitteredBackoff {
 public:
  using Random = std::function<double()>;

  JitteredBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, Random random)
      : initial_(std::max<int64_t>(1, initial.count())),
        max_(std::max<int64_t>(initial_, max.count())),
        random_(std::move(random)) {}

  std::chrono::milliseconds Next() {
    int64_t base = initial_;
    for (uint32_t i = 0; i < attempts_ && base < max_; ++i) {
      base *= 2;
    }
    base = std::min(base, max_);
    if (attempts_ < 64) {
      ++attempts_;
    }
    double r = random_ ? random_() : 1.0;
    r = std::clamp(r, 0.0, 1.0);
    const auto half = base / 2;
    return std::chrono::milliseconds(half +
                                     static_cast<int64_t>(r * static_cast<double>(base - half)));
  }

  void Reset() { attempts_ = 0; }
  uint32_t attempts() const { return attempts_; }

 private:
  int64_t initial_;
  int64_t max_;
  Random random_;
  uint32_t attempts_ = 0;
};

}  // namespace ccrelay::common
