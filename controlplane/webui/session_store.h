#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/synchronization/mutex.h"

#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::webui {

// A logged-in browser: the token it logged in with (kept here, in the control plane's memory,
// never sent back), the role the management API gave that token, and the CSRF token every API
// POST of the session must carry.
struct Session {
  std::string token;  // secret; empty when the control plane has no token (loopback)
  std::string role;   // admin | read-only
  std::string csrf;
  common::MonoTime expires;
};

// The dashboard's sessions: ids are 32 random bytes (hex), a session ends kLifetime after its
// login or at logout; at most kMaxSessions (the oldest goes first). Thread-safe.
class SessionStore {
 public:
  static constexpr std::chrono::hours kLifetime{8};
  static constexpr size_t kMaxSessions = 256;

  explicit SessionStore(const common::Clock* clock) : clock_(clock) {}

  // A new session; returns its id (the cookie's value). `session.csrf` and `expires` are set
  // here.
  std::string Create(std::string token, std::string role, std::string* csrf);
  // The live session with that id, if any (an expired one is removed).
  std::optional<Session> Find(std::string_view id);
  void Remove(std::string_view id);

 private:
  const common::Clock* const clock_;
  absl::Mutex mu_;
  std::map<std::string, Session, std::less<>> sessions_ ABSL_GUARDED_BY(mu_);
};

// `n` random bytes from the kernel, as lower-case hex.
std::string RandomHex(size_t n);
// The value of cookie `name` in a Cookie header ("a=1; b=2"), "" if absent.
std::string_view CookieValue(std::string_view cookie_header, std::string_view name);

}  // namespace ccrelay::controlplane::webui
