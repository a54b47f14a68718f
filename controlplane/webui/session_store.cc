#include "controlplane/webui/session_store.h"

#include <cstdint>

#include <sys/random.h>

#include "dataplane/common/str.h"

namespace ccrelay::controlplane::webui {

std::string RandomHex(size_t n) {
  std::string bytes(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::getrandom(bytes.data() + got, n - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
    }
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (const char c : bytes) {
    const auto b = static_cast<uint8_t>(c);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

std::string_view CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view part = common::StripWhitespace(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    const size_t eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) {
      return part.substr(eq + 1);
    }
  }
  return {};
}

std::string SessionStore::Create(std::string token, std::string role, std::string* csrf) {
  Session s;
  s.token = std::move(token);
  s.role = std::move(role);
  s.csrf = RandomHex(32);
  s.expires = clock_->Now() + kLifetime;
  std::string id = RandomHex(32);
  *csrf = s.csrf;
  absl::MutexLock lock(&mu_);
  const common::MonoTime now = clock_->Now();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = it->second.expires <= now ? sessions_.erase(it) : std::next(it);
  }
  if (sessions_.size() >= kMaxSessions) {
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.expires < oldest->second.expires) {
        oldest = it;
      }
    }
    sessions_.erase(oldest);
  }
  sessions_.emplace(id, std::move(s));
  return id;
}

std::optional<Session> SessionStore::Find(std::string_view id) {
  if (id.empty()) {
    return std::nullopt;
  }
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return std::nullopt;
  }
  if (it->second.expires <= clock_->Now()) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void SessionStore::Remove(std::string_view id) {
  absl::MutexLock lock(&mu_);
  if (auto it = sessions_.find(id); it != sessions_.end()) {
    sessions_.erase(it);
  }
}

}  // namespace ccrelay::controlplane::webui
