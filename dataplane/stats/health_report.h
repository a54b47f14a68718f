#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ccrelay::v1 {
class HealthReport;
}

namespace ccrelay::routing {
struct RoutingTable;
}

namespace ccrelay::stats {

// What a data plane currently sees of one upstream target (passive health).
struct ObservedTarget {
  std::string provider;
  std::string key_fingerprint;  // "" = the provider as a whole
  std::string state;            // ok | cooldown | failing | disabled
  std::string reason;
  int64_t until_unix_ms = 0;  // cooldown: when it ends

  bool operator==(const ObservedTarget&) const = default;
};

// Every provider and key of `table` as the data plane sees it now: a key taken out after a
// 401/403 is "disabled" (with the upstream's reason), a key cooling after a 429 "cooldown" (until
// when), a key or provider whose circuit breaker is open "failing", anything else "ok" (a key
// short of its own bucket's headroom is not an upstream problem).
std::vector<ObservedTarget> ObserveHealth(const routing::RoutingTable& table,
                                          std::chrono::steady_clock::time_point now,
                                          int64_t now_unix_ms);

// Turns successive observations into HealthReports for the control plane: only what changed
// since the previous report (a cooldown's end moving by less than kUntilSlack is no change), or
// everything not "ok" when `full` (a new stream: the control plane forgot this data plane's
// observations). Targets that left the table are reported "ok" once. One thread.
class HealthReporter {
 public:
  static constexpr int64_t kUntilSlackMs = 1000;

  // True when `report` got at least one observation.
  bool Take(const std::vector<ObservedTarget>& now, bool full, ccrelay::v1::HealthReport* report);

 private:
  std::map<std::pair<std::string, std::string>, ObservedTarget> last_;
};

}  // namespace ccrelay::stats
