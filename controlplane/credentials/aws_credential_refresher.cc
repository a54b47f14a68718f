#include "controlplane/credentials/aws_credential_refresher.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/time/time.h"

#include "dataplane/common/log.h"
#include "dataplane/common/secret.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane::aws {
namespace {

using common::F;
using common::Q;
using std::chrono::milliseconds;

}  // namespace

ccrelay::v1::AwsCredentials ToProto(const AwsCredentials& credentials) {
  ccrelay::v1::AwsCredentials out;
  out.set_access_key_id(credentials.access_key_id);
  out.set_secret_access_key(std::string(credentials.secret_access_key.Reveal()));
  out.set_session_token(std::string(credentials.session_token.Reveal()));
  out.set_expires_unix_ms(credentials.expires_unix_ms);
  out.set_source(credentials.source);
  return out;
}

AwsCredentialRefresher::AwsCredentialRefresher(AwsCredentialRefresherOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : common::RealClock::Get()),
      engine_(std::random_device{}()),
      random_(options_.random ? options_.random : std::function<double()>([this] {
        return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
      })),
      backoff_(options_.initial_backoff, options_.max_backoff, [this] { return random_(); }) {}

AwsCredentialRefresher::~AwsCredentialRefresher() { Stop(); }

absl::Status AwsCredentialRefresher::Start() {
  absl::Status first = RefreshOnce();
  thread_ = std::thread([this] { Run(); });
  return first;
}

void AwsCredentialRefresher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void AwsCredentialRefresher::Run() {
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

bool AwsCredentialRefresher::ValidLocked(int64_t now_unix_ms) const {
  return current_.has_value() &&
         (current_->expires_unix_ms == 0 || now_unix_ms < current_->expires_unix_ms);
}

std::optional<milliseconds> AwsCredentialRefresher::DelayAfterSuccess(const AwsCredentials& c,
                                                                      int64_t now_unix_ms) {
  if (c.expires_unix_ms == 0) {
    if (c.kind == AwsCredentialKind::kProfile) {
      return options_.reread_interval;
    }
    return std::nullopt;
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

absl::Status AwsCredentialRefresher::RefreshOnce() {
  absl::StatusOr<AwsCredentials> resolved =
      options_.resolve ? options_.resolve()
                       : absl::StatusOr<AwsCredentials>(absl::FailedPreconditionError("no chain"));
  const int64_t now_unix_ms = clock_.UnixMillis();
  if (resolved.ok() && resolved->expires_unix_ms != 0 && resolved->expires_unix_ms <= now_unix_ms) {
    resolved = absl::UnavailableError(
        common::StrCat("AWS credentials from ", resolved->source, " (key ",
                       common::FingerprintOf(resolved->access_key_id), ") expired already, at ",
                       resolved->expires_unix_ms, " ms"));
  }
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    if (resolved.ok()) {
      changed = !ValidLocked(now_unix_ms) || !SameCredentials(*current_, *resolved);
      const std::optional<milliseconds> delay = DelayAfterSuccess(*resolved, now_unix_ms);
      next_attempt_.reset();
      if (delay.has_value()) {
        next_attempt_ = clock_.Now() + *delay;
      }
      current_ = *resolved;
      expired_ = false;
      last_error_.clear();
      failures_ = 0;
      last_success_unix_ms_ = now_unix_ms;
      backoff_.Reset();
      if (changed) {
        CCR_LOG(kInfo, "aws_credentials_refreshed", F("provider", options_.name),
                Q("source", current_->source),
                F("key", common::FingerprintOf(current_->access_key_id)),
                F("expires_unix_ms", current_->expires_unix_ms),
                F("next_refresh_ms", delay.has_value() ? delay->count() : -1));
      }
    } else {
      last_error_ = std::string(resolved.status().message());
      ++failures_;
      const milliseconds delay = backoff_.Next();
      next_attempt_ = clock_.Now() + delay;
      // Old credentials past their expiry are no longer served.
      if (current_.has_value() && !ValidLocked(now_unix_ms) && !expired_) {
        expired_ = true;
        changed = true;
      }
      CCR_LOG(kWarn, "aws_credentials_failed", F("provider", options_.name),
              Q("error", last_error_), F("failures", failures_), F("retry_in_ms", delay.count()),
              F("serving", ValidLocked(now_unix_ms)));
    }
  }
  if (changed && options_.on_change) {
    options_.on_change();
  }
  return resolved.status();
}

void AwsCredentialRefresher::RunDue() {
  bool expired_now = false;
  bool attempt_now = false;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now_unix_ms = clock_.UnixMillis();
    if (current_.has_value() && !expired_ && !ValidLocked(now_unix_ms)) {
      expired_ = true;
      expired_now = true;
      CCR_LOG(kError, "aws_credentials_expired", F("provider", options_.name),
              Q("source", current_->source),
              F("key", common::FingerprintOf(current_->access_key_id)),
              Q("last_error", last_error_));
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

milliseconds AwsCredentialRefresher::NextDelayLocked() const {
  milliseconds delay = milliseconds::max();
  if (next_attempt_.has_value()) {
    delay = std::chrono::ceil<milliseconds>(*next_attempt_ - clock_.Now());
  }
  if (current_.has_value() && !expired_ && current_->expires_unix_ms != 0) {
    delay = std::min(delay, milliseconds(current_->expires_unix_ms - clock_.UnixMillis()));
  }
  return std::max(delay, milliseconds::zero());
}

milliseconds AwsCredentialRefresher::NextRefreshDelay() const {
  absl::MutexLock lock(&mu_);
  return NextDelayLocked();
}

void AwsCredentialRefresher::RefreshSoon() {
  absl::MutexLock lock(&mu_);
  next_attempt_ = clock_.Now();
  cv_.SignalAll();
}

ccrelay::v1::AwsCredentials AwsCredentialRefresher::Credentials() const {
  absl::MutexLock lock(&mu_);
  if (!ValidLocked(clock_.UnixMillis())) {
    return {};
  }
  return ToProto(*current_);
}

AwsCredentialState AwsCredentialRefresher::State() const {
  absl::MutexLock lock(&mu_);
  AwsCredentialState out;
  const int64_t now_unix_ms = clock_.UnixMillis();
  if (ValidLocked(now_unix_ms)) {
    out.credentials = ToProto(*current_);
  }
  out.last_error = last_error_;
  out.consecutive_failures = failures_;
  out.expired = current_.has_value() && !ValidLocked(now_unix_ms);
  out.last_success_unix_ms = last_success_unix_ms_;
  return out;
}

}  // namespace ccrelay::controlplane::aws
