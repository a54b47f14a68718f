#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace ccrelay::state {

// Output tokens per answer, learned per model from the usage of complete answers: the
// cost-based strategy's expected output. A fixed table of slots keyed by a hash of the model
// name, each an exponentially weighted mean (the first kWarmup samples averaged plainly, then
// each new one weighs 1/kWarmup), updated with compare-and-swap: no lock, no allocation. Owned
// by the StateRegistry, so a reload keeps what was learned. A model whose probe window is full
// takes over the first slot of it (what the other model had learned there is lost: with
// kSlots slots this needs more models than a config routes).
class OutputTokenEstimator {
 public:
  static constexpr size_t kSlots = 256;
  static constexpr size_t kProbe = 4;
  static constexpr uint32_t kWarmup = 8;

  // Adds one answer's output tokens for `model` (negative: ignored).
  void Observe(std::string_view model, int64_t output_tokens);
  // The learned mean (rounded), -1 before the first sample of `model`.
  int64_t Estimate(std::string_view model) const;
  // Samples seen for `model` (saturates), 0 if none.
  uint32_t Samples(std::string_view model) const;

 private:
  struct Slot {
    std::atomic<uint64_t> tag{0};    // the model's hash (never 0), 0: free
    std::atomic<uint64_t> value{0};  // mean x 16 in the high 40 bits, samples in the low 24
  };
  const Slot* Find(uint64_t tag) const;

  std::array<Slot, kSlots> slots_;
};

}  // namespace ccrelay::state
