#include "controlplane/credentials/credential_refresher.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/time/time.h"

#include "dataplane/common/log.h"
#include "dataplane/common/secret.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane::credentials {
namespace {

using common::F;
using common::Q;
using std::chrono::milliseconds;

}  // namespace

bool SameCredential(const MintedCredential& a, const MintedCredential& b) {
  // Key has no map field: equal contents serialize to equal bytes.
  return a.expires_unix_ms == b.expires_unix_ms &&
         a.key.SerializeAsString() == b.key.SerializeAsString();
}

std::string FingerprintOfCredential(const MintedCredential& c) {
  if (!c.key.fingerprint().empty()) {
    return c.key.fingerprint();
  }
  return common::FingerprintOf(c.key.has_aws() ? c.key.aws().access_key_id() : c.key.secret());
}

CredentialRefresher::CredentialRefresher(CredentialRefresherOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : common::RealClock::Get()),
      engine_(std::random_device{}()),
      random_(options_.random ? options_.random : std::function<double()>([this] {
        return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
      })),
      backoff_(options_.initial_backoff, options_.max_backoff, [this] { return random_(); }) {}

CredentialRefresher::~CredentialRefresher() { Stop(); }

std::string CredentialRefresher::Event(const char* what) const {
  return common::StrCat(options_.log_prefix, "_", what);
}

absl::Status CredentialRefresher::Start() {
  absl::Status first = RefreshOnce();
  thread_ = std::thread([this] { Run(); });
  return first;
}

void CredentialRefresher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void CredentialRefresher::Run() {
  mu_.Lock();
  while (!stopping_) {
    const milliseconds delay = NextDelayLocked();
    if (delay == milliseconds::max()) {
      cv_.Wait(&mu_);
    } else if (delay > milliseconds::zero()) {
      // Only a wake-up: the loop asks the clock again what is due.
      cv_.WaitWithTimeout(&mu_, absl::FromChrono(delay));
    } else {
      mu_.Unlock();
      RunDue();
      mu_.Lock();
    }
  }
  mu_.Unlock();
}

bool CredentialRefresher::ValidLocked(int64_t now_unix_ms) const {
  return current_.has_value() &&
         (current_->expires_unix_ms == 0 || now_unix_ms < current_->expires_unix_ms);
}

std::optional<milliseconds> CredentialRefresher::DelayAfterSuccess(const MintedCredential& c,
                                                                   int64_t now_unix_ms) {
  if (c.expires_unix_ms == 0) {
    if (c.renewal == MintedCredential::Renewal::kNever) {
      return std::nullopt;
    }
    return options_.reread_interval;
  }
  const milliseconds remaining(c.expires_unix_ms - now_unix_ms);
  milliseconds delay = remaining / 2;
  if (remaining > options_.refresh_ahead) {
    const milliseconds spare = remaining - options_.refresh_ahead;
    const double r = std::clamp(random_(), 0.0, 1.0);
    const milliseconds jitter(static_cast<int64_t>(
        r * static_cast<double>(std::min(options_.refresh_jitter, spare).count())));
    delay = spare - jitter;
  }
  return std::max(delay, options_.min_delay);
}

absl::Status CredentialRefresher::RefreshOnce() {
  absl::StatusOr<MintedCredential> resolved =
      options_.source != nullptr
          ? options_.source->Resolve()
          : absl::StatusOr<MintedCredential>(absl::FailedPreconditionError(
                common::StrCat("no source of ", options_.noun, " configured")));
  const int64_t now_unix_ms = clock_.UnixMillis();
  if (resolved.ok()) {
    // The snapshot's key carries the expiry and a fingerprint whatever the source filled in.
    resolved->key.set_expires_unix_ms(resolved->expires_unix_ms);
    resolved->key.set_fingerprint(FingerprintOfCredential(*resolved));
    if (resolved->expires_unix_ms != 0 && resolved->expires_unix_ms <= now_unix_ms) {
      resolved = absl::UnavailableError(
          common::StrCat(options_.noun, " from ", resolved->source, " (",
                         resolved->key.has_aws() ? "key " : "token ", resolved->key.fingerprint(),
                         ") expired already, at ", resolved->expires_unix_ms, " ms"));
    }
  }
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    if (resolved.ok()) {
      changed = !ValidLocked(now_unix_ms) || !SameCredential(*current_, *resolved);
      const std::optional<milliseconds> delay = DelayAfterSuccess(*resolved, now_unix_ms);
      next_attempt_.reset();
      if (delay.has_value()) {
        next_attempt_ = clock_.Now() + *delay;
      }
      current_ = *resolved;
      expired_ = false;
      last_error_.clear();
      failures_ = 0;
      failing_since_unix_ms_ = 0;
      last_success_unix_ms_ = now_unix_ms;
      backoff_.Reset();
      if (changed) {
        CCR_LOG(kInfo, Event("refreshed"), F("provider", options_.name),
                Q("source", current_->source), F("key", current_->key.fingerprint()),
                F("expires_unix_ms", current_->expires_unix_ms),
                F("next_refresh_ms", delay.has_value() ? delay->count() : -1));
      }
    } else {
      last_error_ = std::string(resolved.status().message());
      if (failures_ == 0) {
        failing_since_unix_ms_ = now_unix_ms;
      }
      ++failures_;
      const milliseconds delay = backoff_.Next();
      next_attempt_ = clock_.Now() + delay;
      // An old credential past its expiry is no longer served.
      if (current_.has_value() && !ValidLocked(now_unix_ms) && !expired_) {
        expired_ = true;
        changed = true;
      }
      CCR_LOG(kWarn, Event("failed"), F("provider", options_.name), Q("error", last_error_),
              F("failures", failures_), F("retry_in_ms", delay.count()),
              F("serving", ValidLocked(now_unix_ms)));
    }
  }
  if (changed && options_.on_change) {
    options_.on_change();
  }
  return resolved.status();
}

void CredentialRefresher::RunDue() {
  bool expired_now = false;
  bool attempt_now = false;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now_unix_ms = clock_.UnixMillis();
    if (current_.has_value() && !expired_ && !ValidLocked(now_unix_ms)) {
      expired_ = true;
      expired_now = true;
      CCR_LOG(kError, Event("expired"), F("provider", options_.name), Q("source", current_->source),
              F("key", current_->key.fingerprint()), Q("last_error", last_error_));
    }
    attempt_now = next_attempt_.has_value() && clock_.Now() >= *next_attempt_;
  }
  if (expired_now && options_.on_change) {
    options_.on_change();
  }
  if (attempt_now) {
    (void)RefreshOnce();  // the outcome is in the state and the log
  }
}

milliseconds CredentialRefresher::NextDelayLocked() const {
  milliseconds delay = milliseconds::max();
  if (next_attempt_.has_value()) {
    delay = std::chrono::ceil<milliseconds>(*next_attempt_ - clock_.Now());
  }
  if (current_.has_value() && !expired_ && current_->expires_unix_ms != 0) {
    delay = std::min(delay, milliseconds(current_->expires_unix_ms - clock_.UnixMillis()));
  }
  return std::max(delay, milliseconds::zero());
}

milliseconds CredentialRefresher::NextRefreshDelay() const {
  absl::MutexLock lock(&mu_);
  return NextDelayLocked();
}

void CredentialRefresher::RefreshSoon() {
  absl::MutexLock lock(&mu_);
  next_attempt_ = clock_.Now();
  cv_.SignalAll();
}

std::optional<MintedCredential> CredentialRefresher::Credential() const {
  absl::MutexLock lock(&mu_);
  if (!ValidLocked(clock_.UnixMillis())) {
    return std::nullopt;
  }
  return current_;
}

CredentialState CredentialRefresher::State() const {
  absl::MutexLock lock(&mu_);
  CredentialState out;
  const int64_t now_unix_ms = clock_.UnixMillis();
  if (ValidLocked(now_unix_ms)) {
    out.credential = current_;
  }
  out.last_error = last_error_;
  out.consecutive_failures = failures_;
  out.failing_since_unix_ms = failing_since_unix_ms_;
  out.expired = current_.has_value() && !ValidLocked(now_unix_ms);
  out.last_success_unix_ms = last_success_unix_ms_;
  return out;
}

}  // namespace ccrelay::controlplane::credentials
