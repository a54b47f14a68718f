#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"

#include "dataplane/common/clock.h"

namespace ccrelay::v1 {
class StatsReport;
class HealthReport;
class StatsSnapshot;
}  // namespace ccrelay::v1

namespace ccrelay::controlplane {

// Totals of one key (or, summed, of one provider) since the control plane started, plus the
// rates over the last minute.
struct KeyUsage {
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t rate_limited = 0;
  uint64_t input_tokens = 0;
  uint64_t output_tokens = 0;
  uint64_t cache_read_tokens = 0;
  uint64_t cache_creation_tokens = 0;
  uint64_t latency_ms_sum = 0;
  uint64_t latency_count = 0;
  double rpm_used = 0;  // requests over the last 60 s, all data planes
  double tpm_used = 0;  // input + output tokens over the last 60 s
};

// What the data planes observed of a key or provider (the worst current observation).
struct ObservedHealth {
  std::string state;  // cooldown | failing | auth_failed
  std::string reason;
  int64_t until_unix_ms = 0;
  std::string data_plane;
};

// Sums the StatsReport deltas of every data plane into totals per provider/key and per data
// plane, keeps the last kMaxRecent requests, and the per-second buckets behind rpm/tpm. Health
// observations: per data plane and (provider, key), an "ok" observation clears an earlier one, a
// cooldown ends at its until_unix_ms; a data plane that goes away takes its observations along.
// Thread-safe.
class StatsAggregator {
 public:
  static constexpr size_t kMaxRecent = 100;
  static constexpr int64_t kWindowSeconds = 60;

  explicit StatsAggregator(const common::Clock& clock);

  void AddReport(const std::string& data_plane, const ccrelay::v1::StatsReport& report);
  void AddHealth(const std::string& data_plane, const ccrelay::v1::HealthReport& report);
  // A data plane's stream ended: its gauges go to 0 and its health observations are dropped
  // (its totals stay).
  void ForgetDataPlane(const std::string& data_plane);

  KeyUsage Key(const std::string& provider, const std::string& fingerprint) const;
  // Sum over the provider's keys (including "", requests without a key: passthrough).
  KeyUsage Provider(const std::string& provider) const;
  // The worst current observation of a key ("" = the provider as a whole); nullopt = ok.
  std::optional<ObservedHealth> Health(const std::string& provider,
                                       const std::string& fingerprint) const;

  // Totals, active streams, per data plane, recent requests (most recent first) and unix_ms.
  // Providers (with their keys) are the caller's: it knows the config.
  void FillTotals(ccrelay::v1::StatsSnapshot* out) const;

 private:
  struct Bucket {
    int64_t second = -1;
    uint64_t requests = 0;
    uint64_t tokens = 0;
  };
  struct KeyTotals {
    KeyUsage usage;
    std::array<Bucket, kWindowSeconds> buckets;
  };
  struct DataPlaneTotals {
    uint64_t requests = 0;
    uint64_t errors = 0;
    int64_t active_streams = 0;
  };
  struct Recent {
    std::string data_plane;
    std::string request_id;
    std::string provider;
    std::string key_fingerprint;
    std::string model;
    int32_t status = 0;
    uint32_t attempts = 0;
    int64_t ttfb_ms = 0;
    int64_t duration_ms = 0;
    int64_t input_tokens = 0;
    int64_t output_tokens = 0;
    int64_t unix_ms = 0;
    std::string user;  // the relay key's user ("" none)
  };
  using KeyId = std::pair<std::string, std::string>;  // provider, fingerprint

  void AddRates(KeyUsage* usage, const KeyTotals& totals, int64_t now_second) const;

  const common::Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<KeyId, KeyTotals> keys_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, DataPlaneTotals> data_planes_ ABSL_GUARDED_BY(mu_);
  // data plane -> (provider, fingerprint) -> observation
  std::map<std::string, std::map<KeyId, ObservedHealth>> health_ ABSL_GUARDED_BY(mu_);
  std::deque<Recent> recent_ ABSL_GUARDED_BY(mu_);  // most recent first
  uint64_t requests_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t input_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t output_tokens_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ccrelay::controlplane
