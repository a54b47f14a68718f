#include "dataplane/state/output_estimator.h"

#include <algorithm>

namespace ccrelay::state {

namespace {

constexpr uint64_t kCountBits = 24;
constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;
constexpr int64_t kMaxSample = int64_t{1} << 30;  // far above any max_tokens

// FNV-1a, never 0 (0 marks a free slot).
uint64_t Tag(std::string_view model) {
  uint64_t h = 1469598103934665603ull;
  for (const char c : model) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  return h == 0 ? 1 : h;
}

uint64_t Pack(uint64_t mean16, uint64_t count) { return (mean16 << kCountBits) | count; }
uint64_t Mean16(uint64_t v) { return v >> kCountBits; }
uint64_t Count(uint64_t v) { return v & kCountMask; }

}  // namespace

const OutputTokenEstimator::Slot* OutputTokenEstimator::Find(uint64_t tag) const {
  for (size_t i = 0; i < kProbe; ++i) {
    const Slot& s = slots_[(tag + i) % kSlots];
    if (s.tag.load(std::memory_order_acquire) == tag) {
      return &s;
    }
  }
  return nullptr;
}

void OutputTokenEstimator::Observe(std::string_view model, int64_t output_tokens) {
  if (output_tokens < 0) {
    return;
  }
  const uint64_t tag = Tag(model);
  const uint64_t sample16 = static_cast<uint64_t>(std::min(output_tokens, kMaxSample)) * 16;
  Slot* slot = nullptr;
  for (size_t i = 0; i < kProbe && slot == nullptr; ++i) {
    Slot& s = slots_[(tag + i) % kSlots];
    uint64_t seen = s.tag.load(std::memory_order_acquire);
    if (seen == 0 && s.tag.compare_exchange_strong(seen, tag, std::memory_order_acq_rel)) {
      seen = tag;
    }
    if (seen == tag) {
      slot = &s;
    }
  }
  if (slot == nullptr) {  // the window is full of other models: take over its first slot
    slot = &slots_[tag % kSlots];
    slot->value.store(0, std::memory_order_relaxed);
    slot->tag.store(tag, std::memory_order_release);
  }
  uint64_t old = slot->value.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t n = std::min<uint64_t>(Count(old) + 1, kCountMask);
    const uint64_t weight = std::min<uint64_t>(n, kWarmup);  // the new sample weighs 1/weight
    const auto mean = static_cast<int64_t>(Mean16(old));
    const int64_t next = mean + (static_cast<int64_t>(sample16) - mean) / static_cast<int64_t>(weight);
    if (slot->value.compare_exchange_weak(old, Pack(static_cast<uint64_t>(next), n),
                                          std::memory_order_relaxed)) {
      return;
    }
  }
}

int64_t OutputTokenEstimator::Estimate(std::string_view model) const {
  const Slot* s = Find(Tag(model));
  if (s == nullptr) {
    return -1;
  }
  const uint64_t v = s->value.load(std::memory_order_relaxed);
  return Count(v) == 0 ? -1 : static_cast<int64_t>((Mean16(v) + 8) / 16);
}

uint32_t OutputTokenEstimator::Samples(std::string_view model) const {
  const Slot* s = Find(Tag(model));
  return s == nullptr ? 0 : static_cast<uint32_t>(Count(s->value.load(std::memory_order_relaxed)));
}

}  // namespace ccrelay::state
