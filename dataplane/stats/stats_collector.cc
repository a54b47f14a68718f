#include "dataplane/stats/stats_collector.h"

namespace ccrelay::stats {

namespace {
uint64_t NonNegative(int64_t v) { return v > 0 ? static_cast<uint64_t>(v) : 0; }
}  // namespace

KeyDelta& StatsCollector::Slot(const std::string& provider, const std::string& fingerprint) {
  auto& slot = keys_[{provider, fingerprint}];
  if (slot.provider.empty()) {
    slot.provider = provider;
    slot.key_fingerprint = fingerprint;
  }
  return slot;
}

void StatsCollector::OnRequestDone(const RequestRecord& record) {
  absl::MutexLock lock(&mu_);
  ++requests_;
  if (!record.provider.empty()) {
    KeyDelta& d = Slot(record.provider, record.key_fingerprint);
    ++d.requests;
    if (record.status >= 500 || record.upstream_error) {
      ++d.errors;
    }
    d.input_tokens += NonNegative(record.usage.input_tokens);
    d.output_tokens += NonNegative(record.usage.output_tokens);
    d.cache_read_tokens += NonNegative(record.usage.cache_read_input_tokens);
    d.cache_creation_tokens += NonNegative(record.usage.cache_creation_input_tokens);
    if (record.ttfb_ms >= 0 && record.status < 400) {
      d.latency_ms_sum += static_cast<uint64_t>(record.ttfb_ms);
      ++d.latency_count;
    }
  }
  if (recent_.size() < kMaxRecent) {
    recent_.push_back(record);
  } else {
    recent_[recent_next_] = record;
  }
  recent_next_ = (recent_next_ + 1) % kMaxRecent;
  recent_count_ = std::min(recent_count_ + 1, kMaxRecent);
}

void StatsCollector::OnAttemptFailed(const AttemptRecord& record) {
  absl::MutexLock lock(&mu_);
  KeyDelta& d = Slot(record.provider, record.key_fingerprint);
  ++d.errors;
  if (record.status == 429) {
    ++d.rate_limited;
  }
}

StatsDelta StatsCollector::Take() {
  StatsDelta out;
  out.active_streams = active_streams();
  absl::MutexLock lock(&mu_);
  out.requests = std::exchange(requests_, 0);
  out.keys.reserve(keys_.size());
  for (auto& [_, d] : keys_) {
    out.keys.push_back(std::move(d));
  }
  keys_.clear();
  out.recent.reserve(recent_count_);
  for (size_t i = 0; i < recent_count_; ++i) {
    out.recent.push_back(recent_[(recent_next_ + kMaxRecent - recent_count_ + i) % kMaxRecent]);
  }
  recent_count_ = 0;
  return out;
}

}  // namespace ccrelay::stats
