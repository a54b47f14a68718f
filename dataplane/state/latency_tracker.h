#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/common/clock.h"

namespace ccrelay::state {

// A moving average over samples (lock-free). Each sample weighs
// max(kMinWeight, 1 - 2^(-dt / kHalfLife)), dt the time since the previous sample: on a busy
// provider the last few samples dominate (kMinWeight = 0.25, so half the figure comes from the
// last 2.4 samples), and after a quiet spell a fresh sample counts for more than a stale average.
// The first sample sets it.
class Ewma {
 public:
  static constexpr double kMinWeight = 0.25;
  static constexpr std::chrono::seconds kHalfLife{30};

  void Add(double x, common::MonoTime now);
  double value() const { return value_.load(std::memory_order_relaxed); }  // < 0: none
  uint32_t count() const { return count_.load(std::memory_order_relaxed); }
  common::MonoTime last() const {
    return common::MonoTime(common::MonoTime::duration(last_.load(std::memory_order_relaxed)));
  }

 private:
  std::atomic<double> value_{-1};
  std::atomic<int64_t> last_{0};  // steady-clock ticks of the last sample
  std::atomic<uint32_t> count_{0};
};

// What routing uses for one (provider, model).
struct LatencyEstimate {
  enum class Source : uint8_t { kNone, kLocal, kShared };
  double ttft_ms = -1;       // time to first token; < 0: unknown
  double tokens_per_s = -1;  // output tokens per second; < 0: unknown
  uint64_t samples = 0;      // the larger of the local and the shared sample counts
  Source source = Source::kNone;
  bool provider_wide = false;  // no figure for the model: the provider's over all its models
};

// Latency samples taken since the last TakeSamples, for the control plane (StatsReport).
struct LatencySampleDelta {
  std::string model;  // "" never (the provider-wide figure is not reported)
  uint64_t count = 0;
  uint64_t ttft_ms_sum = 0;
  uint64_t speed_count = 0;
  uint64_t output_tokens = 0;
  uint64_t generation_ms = 0;
};

// One answer's timing, for LatencyTracker::Add.
struct LatencySample {
  double ttft_ms = 0;          // the attempt sent -> first content event (non-stream: the head)
  int64_t output_tokens = -1;  // -1: unknown
  double generation_ms = -1;   // first token -> end; < 0: not a speed sample (not streamed)
};

// Time to first token and output tokens per second of one provider, per routed model, as moving
// averages of this data plane's own samples and as the control plane's shared estimates (from
// every data plane). Fixed slots keyed by a hash of the model name (kModelSlots; a model that
// finds no free slot counts in the provider-wide figure only) plus the provider-wide figure over
// every model. Atomics only: reads never lock; a slot is claimed once with a compare-and-swap.
// Lives in state::ProviderState, so reloads keep it.
//
// The figure used (Estimate): the local one when it has kWarmSamples samples and the last is at
// most kLocalFresh old; else the shared one when there is one; else the local one however old.
// The model's figure when it has any data, else the provider-wide one.
class LatencyTracker {
 public:
  static constexpr size_t kModelSlots = 16;
  static constexpr size_t kMaxModelName = 95;  // longer names are not reported to the control plane
  static constexpr uint64_t kWarmSamples = 3;  // fewer: "no data yet"
  static constexpr std::chrono::seconds kLocalFresh{60};
  // Speed samples: streamed answers of at least this many output tokens over at least this long.
  static constexpr int64_t kMinSpeedTokens = 32;
  static constexpr double kMinGenerationMs = 50;

  // The key of a model name (never 0): hash once per request, look up per provider.
  static uint64_t ModelKey(std::string_view model);

  // A 2xx answer.
  void Add(std::string_view model, const LatencySample& sample, common::MonoTime now);
  // No answer after `waited_ms` (a timeout waiting for the first byte): the time to first token
  // is at least that, so it counts as a sample when above the current local figure.
  void AddLowerBound(std::string_view model, double waited_ms, common::MonoTime now);

  LatencyEstimate Estimate(uint64_t model_key, common::MonoTime now) const;
  LatencyEstimate ProviderWide(common::MonoTime now) const;

  // The control plane's estimate for `model` ("" = provider-wide). `generation` tags one push:
  // ClearSharedBefore(generation) then drops what that push did not carry.
  void SetShared(std::string_view model, double ttft_ms, double tokens_per_s, uint64_t samples,
                 uint64_t generation);
  void ClearSharedBefore(uint64_t generation);

  // Samples since the previous call, per model (those with any).
  std::vector<LatencySampleDelta> TakeSamples();

 private:
  struct Cell {
    Ewma ttft;
    Ewma speed;
    std::atomic<double> shared_ttft{-1};
    std::atomic<double> shared_speed{-1};
    std::atomic<uint64_t> shared_samples{0};
    std::atomic<uint64_t> shared_generation{0};
    // Deltas for the control plane.
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> ttft_ms_sum{0};
    std::atomic<uint64_t> speed_count{0};
    std::atomic<uint64_t> output_tokens{0};
    std::atomic<uint64_t> generation_ms{0};

    LatencyEstimate Read(common::MonoTime now) const;
  };
  struct Slot {
    std::atomic<uint64_t> key{0};     // 0: free
    std::atomic<bool> named{false};   // `name` written (set once, after the claim)
    char name[kMaxModelName + 1] = {};
    Cell cell;
  };

  const Slot* Find(uint64_t key) const;
  Slot* FindOrClaim(std::string_view model, uint64_t key);
  void Record(Cell& cell, const LatencySample& sample, common::MonoTime now);

  std::array<Slot, kModelSlots> slots_;
  std::atomic<size_t> claimed_{0};  // slots taken
  Cell all_;  // every model
};

}  // namespace ccrelay::state
