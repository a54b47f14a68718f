#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "proto/snapshot.pb.h"

#include "controlplane/credentials/aws_credentials.h"
#include "dataplane/common/backoff.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::aws {

// The snapshot's form of a set of credentials.
ccrelay::v1::AwsCredentials ToProto(const AwsCredentials& credentials);

struct AwsCredentialRefresherOptions {
  std::string name;  // the Bedrock provider's name, for logs
  // One walk of the chain: [&chain] { return chain.Resolve(); }. Tests script answers here.
  std::function<absl::StatusOr<AwsCredentials>()> resolve;
  // The credentials served changed: a new set, or the old one expired without a successor.
  // Called on the refresher's thread (or Start's caller for the first set), no lock held; the
  // control plane rebuilds and pushes a snapshot. Must not call Stop().
  std::function<void()> on_change;
  const common::Clock* clock = nullptr;  // RealClock when null
  std::function<double()> random;        // [0, 1) for jitter; a seeded PRNG when empty

  // Temporary credentials are renewed this long before they expire, minus up to
  // `refresh_jitter`; credentials valid for less than `refresh_ahead` at half their remaining
  // life (at least `min_delay` later).
  std::chrono::milliseconds refresh_ahead{std::chrono::minutes(5)};
  std::chrono::milliseconds refresh_jitter{std::chrono::minutes(1)};
  std::chrono::milliseconds min_delay{std::chrono::seconds(1)};
  // After a failure: jittered exponential backoff.
  std::chrono::milliseconds initial_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(60)};
  // Long-term keys from the shared files are re-read this often (an edited ~/.aws/credentials
  // is picked up); long-term keys from the environment are never re-read.
  std::chrono::milliseconds reread_interval{std::chrono::minutes(5)};
};

// What the refresher knows, for the management API and metrics. No secret in it but the
// credentials themselves.
struct AwsCredentialState {
  // The credentials in force: empty (no access_key_id) when there are none or they expired.
  ccrelay::v1::AwsCredentials credentials;
  std::string last_error;  // of the last attempt, "" after a success; never holds a secret
  uint32_t consecutive_failures = 0;
  bool expired = false;              // credentials were served, expired, and none replaced them
  int64_t last_success_unix_ms = 0;  // 0 before the first success
};

// Keeps one Bedrock provider's AWS credentials fresh (providers with explicit keys need none).
//
// Start() resolves once, synchronously (bounded by the chain's timeouts), so the first snapshot
// can carry credentials, then a thread of its own renews them: temporary credentials ahead of
// their expiry, long-term keys from the shared files every `reread_interval`; after a failure it
// retries with backoff and goes on serving the old credentials while they are valid. The core
// is usable without the thread, driven by the injected clock: RunDue() does what is due,
// NextRefreshDelay() says when the next thing is. Thread-safe.
class AwsCredentialRefresher {
 public:
  explicit AwsCredentialRefresher(AwsCredentialRefresherOptions options);
  ~AwsCredentialRefresher();  // Stop()
  AwsCredentialRefresher(const AwsCredentialRefresher&) = delete;
  AwsCredentialRefresher& operator=(const AwsCredentialRefresher&) = delete;

  // RefreshOnce(), then starts the thread (also when that first attempt failed: it retries).
  // Returns the first attempt's status. Call once.
  absl::Status Start();
  // Wakes and joins the thread. A chain walk in progress finishes first (its HTTP timeouts
  // bound it). Idempotent.
  void Stop();

  // One walk of the chain now: updates the state, schedules the next attempt, calls on_change
  // when the served credentials changed. Returns the walk's status.
  absl::Status RefreshOnce();
  // What is due by the clock: marks credentials past their expiry as expired (on_change), and
  // runs RefreshOnce() if the next attempt is due.
  void RunDue();
  // Time from now (the clock) until RunDue() has something to do: zero when due,
  // milliseconds::max() when nothing is scheduled (long-term keys from the environment).
  std::chrono::milliseconds NextRefreshDelay() const;
  // Moves the next attempt to now (e.g. a data plane reported an expired token) and wakes the
  // thread.
  void RefreshSoon();

  // The credentials in force (empty when none or expired), for building a snapshot.
  ccrelay::v1::AwsCredentials Credentials() const;
  AwsCredentialState State() const;

 private:
  void Run();
  std::chrono::milliseconds NextDelayLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Delay until the next attempt after a success with these credentials (nullopt: never).
  std::optional<std::chrono::milliseconds> DelayAfterSuccess(const AwsCredentials& c,
                                                             int64_t now_unix_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ValidLocked(int64_t now_unix_ms) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  AwsCredentialRefresherOptions options_;
  const common::Clock& clock_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  std::mt19937_64 engine_ ABSL_GUARDED_BY(mu_);  // for random_ when none is given
  std::function<double()> random_ ABSL_GUARDED_BY(mu_);
  common::JitteredBackoff backoff_ ABSL_GUARDED_BY(mu_);
  std::optional<AwsCredentials> current_ ABSL_GUARDED_BY(mu_);
  bool expired_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  uint32_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_success_unix_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<common::MonoTime> next_attempt_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ccrelay::controlplane::aws
