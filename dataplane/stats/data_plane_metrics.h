#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/stats/key_metrics.h"
#include "dataplane/stats/metrics_registry.h"
#include "dataplane/stats/request_observer.h"

namespace ccrelay::stats {

// A provider's latency estimates over all its models (state::LatencyTracker::ProviderWide).
struct ProviderLatencySample {
  std::string provider;
  double ttft_seconds = -1;   // < 0: none (not exposed)
  double tokens_per_s = -1;   // < 0: none
};

// What a scrape reads from the data plane at that moment (not counted by the observer).
struct ScrapeState {
  uint64_t snapshot_version = 0;
  int64_t open_connections = 0;
  std::vector<KeySample> keys;
  std::vector<ProviderLatencySample> latency;
};

// Every provider's latency estimates of the table (scrape time).
std::vector<ProviderLatencySample> SampleLatency(const routing::RoutingTable& table,
                                                 std::chrono::steady_clock::time_point now);

// The data plane's Prometheus metrics (SPEC.md "Metrics" lists them): fed by the request
// observer hooks on worker threads, rendered by GET /metrics. Label values never hold a secret:
// providers by name, keys by fingerprint, models by name (sanitised and capped, see ModelLabel).
class DataPlaneMetrics : public RequestObserver {
 public:
  // Distinct model label values kept; later ones are counted under model="other".
  static constexpr size_t kMaxModels = 200;
  // Longest model label value (bytes); longer names are cut.
  static constexpr size_t kMaxModelLength = 128;

  explicit DataPlaneMetrics(std::string_view version);

  // stats::RequestObserver
  void OnRequestDone(const RequestRecord& record) override;
  void OnAttemptFailed(const AttemptRecord& record) override;
  void OnStreamStarted() override;
  void OnStreamEnded() override;
  void OnBetaDropped(std::string_view provider, std::string_view beta) override;
  void OnRouted(std::string_view strategy, std::string_view rule) override;
  void OnUserRefused(std::string_view user, std::string_view reason) override;

  // The usage journal dropped its oldest unacknowledged record (teams).
  void OnUsageRecordDropped();

  // Distinct user label values kept (relay-key users); later ones are counted under
  // user="other".
  static constexpr size_t kMaxUsers = 100;
  // The label value for a user name ("other" once kMaxUsers distinct values exist).
  std::string_view UserLabel(std::string_view user);

  // A routing snapshot was applied (true) or rejected (false).
  void OnSnapshotUpdate(bool applied);

  // The whole exposition (text format 0.0.4): the registry, then the scrape-time state.
  std::string Render(const ScrapeState& state) const;

  const MetricsRegistry& registry() const { return registry_; }

  // The label value for a client-supplied model name: control characters replaced, cut to
  // kMaxModelLength, and "other" once kMaxModels distinct values exist. `storage` holds a
  // rewritten value.
  std::string_view ModelLabel(std::string_view model, std::string* storage);

 private:
  MetricsRegistry registry_;
  SeriesMap<bool> models_;  // admitted model label values
  SeriesMap<bool> users_;   // admitted user label values
  CounterFamily& requests_;
  HistogramFamily& duration_;
  HistogramFamily& ttft_;
  CounterFamily& tokens_;
  CounterFamily& cost_;
  CounterFamily& upstream_errors_;
  CounterFamily& retries_;
  CounterFamily& failovers_;
  GaugeFamily& active_streams_;
  CounterFamily& snapshot_updates_;
  CounterFamily& betas_dropped_;
  CounterFamily& routing_decisions_;
  GaugeFamily& build_info_;
  CounterFamily& user_requests_;
  CounterFamily& user_tokens_;
  CounterFamily& user_cost_;
  CounterFamily& user_refused_;
  CounterFamily& usage_dropped_;
};

}  // namespace ccrelay::stats
