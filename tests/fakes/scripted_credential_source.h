#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/statusor.h"

#include "controlplane/credentials/minted_credential.h"

namespace ccrelay::testing {

// Answers a test scripts for something that resolves credentials (a CredentialSource, the AWS
// chain): each Next() takes the next one, an error when none is left. Thread-safe.
template <typename T>
class ScriptedAnswers {
 public:
  void Push(absl::StatusOr<T> answer) {
    std::lock_guard<std::mutex> lock(mu_);
    answers_.push_back(std::move(answer));
  }
  void PushErrors(int n, const std::string& message) {
    for (int i = 0; i < n; ++i) {
      Push(absl::UnavailableError(message));
    }
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    answers_.clear();
  }
  absl::StatusOr<T> Next() {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    cv_.notify_all();
    if (answers_.empty()) {
      return absl::UnavailableError("script empty");
    }
    auto answer = std::move(answers_.front());
    answers_.pop_front();
    return answer;
  }
  int Calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  // Waits (real time) until `n` calls have started.
  bool WaitForCalls(int n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return calls_ >= n; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<absl::StatusOr<T>> answers_;
  int calls_ = 0;
};

// A CredentialSource whose answers a test scripts (shared with the test through a shared_ptr).
class ScriptedCredentialSource final
    : public controlplane::credentials::CredentialSource,
      public ScriptedAnswers<controlplane::credentials::MintedCredential> {
 public:
  using MintedCredential = controlplane::credentials::MintedCredential;

  // An OAuth access token as a token source would return it.
  static MintedCredential Token(const std::string& token, int64_t expires_unix_ms,
                                const std::string& source = "scripted") {
    MintedCredential c;
    c.key.set_secret(token);
    c.key.set_oauth_token(true);
    c.expires_unix_ms = expires_unix_ms;
    c.renewal = MintedCredential::Renewal::kAtExpiry;
    c.source = source;
    return c;
  }

  // CredentialSource
  absl::StatusOr<MintedCredential> Resolve() override { return Next(); }
};

}  // namespace ccrelay::testing
