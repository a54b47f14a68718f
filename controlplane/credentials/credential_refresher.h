#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

#include "controlplane/credentials/minted_credential.h"
#include "dataplane/common/backoff.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::credentials {

struct CredentialRefresherOptions {
  std::string name;  // the provider's name, for logs
  // Where credentials come from. Tests script answers here.
  std::shared_ptr<CredentialSource> source;
  // What the credential is called in errors and health reasons ("AWS credentials", "token"),
  // and the prefix of its log events (<prefix>_refreshed, _failed, _expired).
  std::string noun = "token";
  std::string log_prefix = "minted_token";
  // The credential served changed: a new one, or the old one expired without a successor.
  // Called on the refresher's thread (or Start's caller for the first one), no lock held; the
  // control plane rebuilds and pushes a snapshot. Must not call Stop().
  std::function<void()> on_change;
  const common::Clock* clock = nullptr;  // RealClock when null
  std::function<double()> random;        // [0, 1) for jitter; a seeded PRNG when empty

  // Credentials that expire are renewed this long before they do, minus up to `refresh_jitter`;
  // those valid for less than `refresh_ahead` at half their remaining life (at least
  // `min_delay` later).
  std::chrono::milliseconds refresh_ahead{std::chrono::minutes(5)};
  std::chrono::milliseconds refresh_jitter{std::chrono::minutes(1)};
  std::chrono::milliseconds min_delay{std::chrono::seconds(1)};
  // After a failure: jittered exponential backoff.
  std::chrono::milliseconds initial_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(60)};
  // Credentials without an expiry: Renewal::kReread (files: an edited ~/.aws/credentials is
  // picked up) and kAtExpiry are resolved again this often; kNever never.
  std::chrono::milliseconds reread_interval{std::chrono::minutes(5)};
};

// What the refresher knows, for the snapshot, the management API and health reasons. No secret
// in it but the credential itself.
struct CredentialState {
  // The credential in force: nullopt when there is none (not resolved yet, or expired).
  std::optional<MintedCredential> credential;
  std::string last_error;  // of the last attempt, "" after a success; never holds a secret
  uint32_t consecutive_failures = 0;
  int64_t failing_since_unix_ms = 0;  // the first of `consecutive_failures` (0: none)
  bool expired = false;               // a credential was served, expired, and none replaced it
  int64_t last_success_unix_ms = 0;   // 0 before the first success
};

// Keeps one provider's minted credential fresh.
//
// Start() resolves once, synchronously (bounded by the source's timeouts), so the first snapshot
// can carry the credential, then a thread of its own renews it: ahead of its expiry (with
// jitter), or every `reread_interval` (Renewal::kReread); after a failure it retries with
// backoff and goes on serving the old credential while it is valid; past its expiry the
// credential is dropped (on_change). The core is usable without the thread, driven by the
// injected clock: RunDue() does what is due, NextRefreshDelay() says when the next thing is.
// Thread-safe.
class CredentialRefresher {
 public:
  explicit CredentialRefresher(CredentialRefresherOptions options);
  ~CredentialRefresher();  // Stop()
  CredentialRefresher(const CredentialRefresher&) = delete;
  CredentialRefresher& operator=(const CredentialRefresher&) = delete;

  // RefreshOnce(), then starts the thread (also when that first attempt failed: it retries).
  // Returns the first attempt's status. Call once.
  absl::Status Start();
  // Wakes and joins the thread. A Resolve() in progress finishes first (its timeouts bound it).
  // Idempotent.
  void Stop();

  // One Resolve() now: updates the state, schedules the next attempt, calls on_change when the
  // served credential changed. Returns the attempt's status.
  absl::Status RefreshOnce();
  // What is due by the clock: marks a credential past its expiry as expired (on_change), and
  // runs RefreshOnce() if the next attempt is due.
  void RunDue();
  // Time from now (the clock) until RunDue() has something to do: zero when due,
  // milliseconds::max() when nothing is scheduled (Renewal::kNever).
  std::chrono::milliseconds NextRefreshDelay() const;
  // Moves the next attempt to now (e.g. a data plane reported the credential refused) and wakes
  // the thread.
  void RefreshSoon();

  // The credential in force (nullopt when none or expired), for building a snapshot.
  std::optional<MintedCredential> Credential() const;
  CredentialState State() const;
  const std::string& noun() const { return options_.noun; }

 private:
  void Run();
  std::chrono::milliseconds NextDelayLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Delay until the next attempt after a success with `c` (nullopt: never).
  std::optional<std::chrono::milliseconds> DelayAfterSuccess(const MintedCredential& c,
                                                             int64_t now_unix_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ValidLocked(int64_t now_unix_ms) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string Event(const char* what) const;

  CredentialRefresherOptions options_;
  const common::Clock& clock_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  std::mt19937_64 engine_ ABSL_GUARDED_BY(mu_);  // for random_ when none is given
  std::function<double()> random_ ABSL_GUARDED_BY(mu_);
  common::JitteredBackoff backoff_ ABSL_GUARDED_BY(mu_);
  std::optional<MintedCredential> current_ ABSL_GUARDED_BY(mu_);
  bool expired_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  uint32_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failing_since_unix_ms_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_success_unix_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<common::MonoTime> next_attempt_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Same key (secret, AWS credentials, fingerprint, flags) and expiry.
bool SameCredential(const MintedCredential& a, const MintedCredential& b);

// The credential's fingerprint: the source's, else that of its secret or access key id.
std::string FingerprintOfCredential(const MintedCredential& c);

}  // namespace ccrelay::controlplane::credentials
