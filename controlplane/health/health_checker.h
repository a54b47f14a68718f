#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "proto/snapshot.pb.h"

#include "controlplane/health/health_probe.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane {

using SnapshotConstSharedPtr = std::shared_ptr<const ccrelay::v1::RoutingSnapshot>;

// "unknown" | "healthy" | "unhealthy" | "auth_failed" (logs, management API).
std::string_view CheckedStateName(ccrelay::v1::CheckedHealth::State state);

// What one probe says about its target.
struct ProbeVerdict {
  enum class Kind {
    kOk,          // answered: reachable, and the key (if any) was not refused
    kFailure,     // no answer, a timeout, or a 5xx (529 included)
    kAuthFailed,  // 401/403 to a key
  };
  Kind kind = Kind::kOk;
  std::string reason;  // "HTTP 200", "HTTP 401 authentication_error", "connect: ..."
};

// 2xx/3xx and other 4xx are answers from a live upstream (a 404 from an endpoint without
// GET /v1/models says nothing against the key); 429 says the key is valid; 401/403 refuse the
// key when one was sent (without a key they only prove the upstream is there); 5xx and no
// answer are failures.
ProbeVerdict ClassifyProbe(const ProbeResult& result, bool with_key);

// The published state of one target from its probe verdicts: UNKNOWN until the first verdict;
// the first ok (or `healthy_threshold` in a row after trouble) → HEALTHY; `unhealthy_threshold`
// failures in a row → UNHEALTHY; a refused key → AUTH_FAILED at once. True when the published
// state changed (a new reason alone is no change).
struct TargetHealth {
  ccrelay::v1::CheckedHealth published;
  uint32_t failures = 0;   // in a row
  uint32_t successes = 0;  // in a row
  bool Record(const ProbeVerdict& verdict, const ccrelay::v1::HealthChecks& config,
              int64_t now_unix_ms);
};

// The control plane's active health checks (config `health.checks`): every `interval_ms` one
// cheap authenticated GET per key (or per provider, for types whose check does not verify keys,
// and for providers without keys) on its own thread, at most kMaxInFlight at once. Rounds are
// timed by the injected clock: one is due `interval_ms` after the start of the last (a probe
// still in flight then is not started again). Results reach data planes through the snapshot
// (Overlay, applied by the snapshot cache's node hook): `on_change` is called (on the checker's
// thread, no lock held) once the probes in flight have ended with some published state changed,
// and is expected to republish; each change is then logged (`health_check provider=… key=…
// state=… reason=… version=N`, N the version carrying it). A data plane's report of trouble
// (CheckSoon) triggers an early check of that target. Thread-safe.
class HealthChecker {
 public:
  static constexpr size_t kMaxInFlight = 8;
  // An early check (CheckSoon) of a target probed less than this ago waits for its round.
  static constexpr std::chrono::milliseconds kMinEarlyGap{1000};

  // Starts one probe and calls `done` exactly once: StartProbe's signature. `done` may be
  // called on any thread, also before the function returns, but not after the checker is gone.
  using ProbeFn = std::function<void(boost::asio::io_context& ioc, ProbeRequest request,
                                     std::function<void(ProbeResult)> done)>;

  struct Deps {
    std::function<SnapshotConstSharedPtr()> current;  // the snapshot in force
    // Republishes the snapshot; returns the version that carries the new verdicts.
    std::function<uint64_t()> on_change;
    const common::Clock* clock = nullptr;
    ProbeFn probe;  // StartProbe when empty; tests script answers here
  };

  explicit HealthChecker(Deps deps);
  ~HealthChecker();  // Stop()
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Starts the thread; the first round runs at once.
  void Start();
  void Stop();

  // Instead of Start(), for tests with a fake clock: runs the checker's work on the calling
  // thread. The round due by the clock runs (the first one on the first call), then all that
  // is ready: config changes, reports, probe results. Returns when nothing is ready; a probe in
  // flight is not waited for.
  void RunForTest();
  // RunForTest, then runs what becomes ready (probes on the network) until `until` holds or
  // `timeout` (real time) passes; returns `until()`.
  bool RunUntilForTest(const std::function<bool()>& until, std::chrono::milliseconds timeout);

  // The snapshot in force changed (config reload, runtime change): new targets are checked at
  // once, targets that went away are forgotten, a new interval takes effect.
  void OnConfigChanged();
  // A data plane saw trouble with this key ("" = the provider): check it now unless it was
  // checked very recently or is being checked.
  void CheckSoon(const std::string& provider, const std::string& fingerprint);

  // Writes the published states into a snapshot's keys and providers (the node hook).
  void Overlay(ccrelay::v1::RoutingSnapshot* snapshot) const;
  // One target's published state (UNKNOWN when not checked).
  ccrelay::v1::CheckedHealth Get(const std::string& provider, const std::string& fingerprint) const;
  // Provider-level state: its own target's, or (keys checked one by one) UNHEALTHY when every
  // checked key is UNHEALTHY, HEALTHY when one answered, else UNKNOWN.
  ccrelay::v1::CheckedHealth GetProvider(const std::string& provider) const;
  // Probes run since the start, by verdict (for /metrics).
  struct Counts {
    uint64_t ok = 0;
    uint64_t failure = 0;
    uint64_t auth_failed = 0;
  };
  Counts counts() const;
  // Every checked target with its state (for /metrics), by (provider, fingerprint).
  std::map<std::pair<std::string, std::string>, ccrelay::v1::CheckedHealth> All() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ccrelay::controlplane
