#include "dataplane/state/latency_tracker.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ccrelay::state {

namespace {

uint64_t Round(double v) { return v > 0 ? static_cast<uint64_t>(std::llround(v)) : 0; }

}  // namespace

void Ewma::Add(double x, common::MonoTime now) {
  const int64_t now_ticks = now.time_since_epoch().count();
  const int64_t prev_ticks = last_.exchange(now_ticks, std::memory_order_relaxed);
  double weight = 1;
  if (prev_ticks != 0) {
    const double dt_s = std::chrono::duration<double>(common::MonoTime::duration(now_ticks) -
                                                      common::MonoTime::duration(prev_ticks))
                            .count();
    weight = std::max(kMinWeight,
                      1 - std::exp2(-std::max(0.0, dt_s) /
                                    std::chrono::duration<double>(kHalfLife).count()));
  }
  double v = value_.load(std::memory_order_relaxed);
  double next = 0;
  do {
    next = v < 0 ? x : v + weight * (x - v);
  } while (!value_.compare_exchange_weak(v, next, std::memory_order_relaxed));
  count_.fetch_add(1, std::memory_order_relaxed);
}

uint64_t LatencyTracker::ModelKey(std::string_view model) {
  // FNV-1a, 64 bits; 0 is reserved for a free slot.
  uint64_t h = 1469598103934665603ull;
  for (const char c : model) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h == 0 ? 1 : h;
}

const LatencyTracker::Slot* LatencyTracker::Find(uint64_t key) const {
  for (size_t i = 0; i < kModelSlots; ++i) {
    const Slot& s = slots_[(key + i) % kModelSlots];
    const uint64_t k = s.key.load(std::memory_order_acquire);
    if (k == key) {
      return &s;
    }
    if (k == 0) {
      return nullptr;  // slots are never freed: a free one ends the probe
    }
  }
  return nullptr;
}

LatencyTracker::Slot* LatencyTracker::FindOrClaim(std::string_view model, uint64_t key) {
  for (size_t i = 0; i < kModelSlots; ++i) {
    Slot& s = slots_[(key + i) % kModelSlots];
    uint64_t k = s.key.load(std::memory_order_acquire);
    if (k == 0 && s.key.compare_exchange_strong(k, key, std::memory_order_acq_rel)) {
      claimed_.fetch_add(1, std::memory_order_relaxed);
      if (model.size() <= kMaxModelName) {
        std::memcpy(s.name, model.data(), model.size());
        s.name[model.size()] = '\0';
        s.named.store(true, std::memory_order_release);
      }
      return &s;
    }
    if (k == key) {
      return &s;
    }
  }
  return nullptr;  // full: the provider-wide figure only
}

void LatencyTracker::Record(Cell& cell, const LatencySample& sample, common::MonoTime now) {
  cell.ttft.Add(sample.ttft_ms, now);
  cell.count.fetch_add(1, std::memory_order_relaxed);
  cell.ttft_ms_sum.fetch_add(Round(sample.ttft_ms), std::memory_order_relaxed);
  if (sample.generation_ms >= kMinGenerationMs && sample.output_tokens >= kMinSpeedTokens) {
    cell.speed.Add(static_cast<double>(sample.output_tokens) * 1000.0 / sample.generation_ms, now);
    cell.speed_count.fetch_add(1, std::memory_order_relaxed);
    cell.output_tokens.fetch_add(static_cast<uint64_t>(sample.output_tokens),
                                 std::memory_order_relaxed);
    cell.generation_ms.fetch_add(Round(sample.generation_ms), std::memory_order_relaxed);
  }
}

void LatencyTracker::Add(std::string_view model, const LatencySample& sample,
                         common::MonoTime now) {
  if (sample.ttft_ms < 0) {
    return;
  }
  if (Slot* s = FindOrClaim(model, ModelKey(model))) {
    Record(s->cell, sample, now);
  }
  // The provider-wide figure takes every sample but reports none (the control plane builds its
  // own from the per-model ones).
  all_.ttft.Add(sample.ttft_ms, now);
  if (sample.generation_ms >= kMinGenerationMs && sample.output_tokens >= kMinSpeedTokens) {
    all_.speed.Add(static_cast<double>(sample.output_tokens) * 1000.0 / sample.generation_ms, now);
  }
}

void LatencyTracker::AddLowerBound(std::string_view model, double waited_ms,
                                   common::MonoTime now) {
  const uint64_t key = ModelKey(model);
  const Slot* s = Find(key);
  const double current = s != nullptr ? s->cell.ttft.value() : all_.ttft.value();
  if (waited_ms <= 0 || waited_ms <= current) {
    return;
  }
  Add(model, LatencySample{waited_ms, -1, -1}, now);
}

LatencyEstimate LatencyTracker::Cell::Read(common::MonoTime now) const {
  LatencyEstimate e;
  const uint64_t local_count = ttft.count();
  const uint64_t shared_count = shared_samples.load(std::memory_order_relaxed);
  const double shared_t = shared_ttft.load(std::memory_order_relaxed);
  e.samples = std::max(local_count, shared_count);
  const bool local_fresh = local_count >= kWarmSamples && now - ttft.last() <= kLocalFresh;
  if (local_count > 0 && (local_fresh || shared_t < 0)) {
    e.source = LatencyEstimate::Source::kLocal;
    e.ttft_ms = ttft.value();
    e.tokens_per_s = speed.value();
    if (e.tokens_per_s < 0) {
      e.tokens_per_s = shared_speed.load(std::memory_order_relaxed);
    }
  } else if (shared_t >= 0) {
    e.source = LatencyEstimate::Source::kShared;
    e.ttft_ms = shared_t;
    e.tokens_per_s = shared_speed.load(std::memory_order_relaxed);
    if (e.tokens_per_s < 0) {
      e.tokens_per_s = speed.value();
    }
  }
  return e;
}

LatencyEstimate LatencyTracker::Estimate(uint64_t model_key, common::MonoTime now) const {
  if (const Slot* s = Find(model_key)) {
    LatencyEstimate e = s->cell.Read(now);
    if (e.source != LatencyEstimate::Source::kNone) {
      return e;
    }
  }
  LatencyEstimate e = all_.Read(now);
  e.provider_wide = true;
  // Another model's samples say little of this one's: "no data yet" until it has some too
  // (unless every slot is taken: then the provider-wide figure is all it will ever have).
  if (claimed_.load(std::memory_order_relaxed) < kModelSlots) {
    e.samples = 0;
  }
  return e;
}

LatencyEstimate LatencyTracker::ProviderWide(common::MonoTime now) const {
  LatencyEstimate e = all_.Read(now);
  e.provider_wide = true;
  return e;
}

void LatencyTracker::SetShared(std::string_view model, double ttft_ms, double tokens_per_s,
                               uint64_t samples, uint64_t generation) {
  Cell* cell = &all_;
  if (!model.empty()) {
    Slot* s = FindOrClaim(model, ModelKey(model));
    if (s == nullptr) {
      return;
    }
    cell = &s->cell;
  }
  cell->shared_ttft.store(ttft_ms, std::memory_order_relaxed);
  cell->shared_speed.store(tokens_per_s, std::memory_order_relaxed);
  cell->shared_samples.store(samples, std::memory_order_relaxed);
  cell->shared_generation.store(generation, std::memory_order_relaxed);
}

void LatencyTracker::ClearSharedBefore(uint64_t generation) {
  auto clear = [generation](Cell& c) {
    if (c.shared_generation.load(std::memory_order_relaxed) < generation) {
      c.shared_ttft.store(-1, std::memory_order_relaxed);
      c.shared_speed.store(-1, std::memory_order_relaxed);
      c.shared_samples.store(0, std::memory_order_relaxed);
    }
  };
  clear(all_);
  for (Slot& s : slots_) {
    if (s.key.load(std::memory_order_acquire) != 0) {
      clear(s.cell);
    }
  }
}

std::vector<LatencySampleDelta> LatencyTracker::TakeSamples() {
  std::vector<LatencySampleDelta> out;
  for (Slot& s : slots_) {
    if (!s.named.load(std::memory_order_acquire)) {
      continue;
    }
    Cell& c = s.cell;
    LatencySampleDelta d;
    d.count = c.count.exchange(0, std::memory_order_relaxed);
    if (d.count == 0) {
      continue;
    }
    d.model = s.name;
    d.ttft_ms_sum = c.ttft_ms_sum.exchange(0, std::memory_order_relaxed);
    d.speed_count = c.speed_count.exchange(0, std::memory_order_relaxed);
    d.output_tokens = c.output_tokens.exchange(0, std::memory_order_relaxed);
    d.generation_ms = c.generation_ms.exchange(0, std::memory_order_relaxed);
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace ccrelay::state
