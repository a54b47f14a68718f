#include "dataplane/upstream/connection_pool.h"

#include <sys/socket.h>

#include <cerrno>

namespace ccrelay::upstream {

bool UpstreamConnection::StillUsable() {
  if (!socket_.is_open() || buffer_.size() != 0) {
    return false;
  }
  char byte;
  const ssize_t n = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // 0: the peer closed; > 0: unexpected bytes (or a TLS alert) arrived while idle.
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

ConnectionPool::ConnectionPool(boost::asio::io_context& ioc) : sweep_timer_(ioc) {}

ConnectionPool::~ConnectionPool() { Clear(); }

UpstreamConnectionPtr ConnectionPool::Take(std::string_view pool_key) {
  auto it = idle_.find(absl::string_view(pool_key.data(), pool_key.size()));
  if (it == idle_.end()) {
    return nullptr;
  }
  auto& q = it->second;
  const auto now = std::chrono::steady_clock::now();
  while (!q.empty()) {
    UpstreamConnectionPtr conn = std::move(q.back());  // most recently used first (warmest)
    q.pop_back();
    const auto idle = now - conn->idle_since;
    // A connection back in the pool a moment ago is reused as it is; one that sat longer is
    // peeked at first (a closed one is caught either way: the request then fails before any
    // answer and is sent again once on a fresh connection, see RetryPolicy::ReconnectAfter).
    if (idle < idle_timeout_ && (idle < kPeekAfterIdle || conn->StillUsable())) {
      return conn;
    }
    conn->Close();
  }
  return nullptr;
}

void ConnectionPool::Put(UpstreamConnectionPtr conn) {
  auto& q = idle_[conn->pool_key()];
  if (q.size() >= kMaxIdlePerKey) {
    conn->Close();
    return;
  }
  conn->idle_since = std::chrono::steady_clock::now();
  q.push_back(std::move(conn));
  ArmSweep();
}

void ConnectionPool::Clear() {
  sweep_timer_.cancel();
  for (auto& [_, q] : idle_) {
    for (auto& c : q) {
      c->Close();
    }
  }
  idle_.clear();
}

size_t ConnectionPool::idle_count() const {
  size_t n = 0;
  for (const auto& [_, q] : idle_) {
    n += q.size();
  }
  return n;
}

void ConnectionPool::ArmSweep() {
  if (sweeping_) {
    return;
  }
  sweeping_ = true;
  sweep_timer_.expires_after(std::chrono::seconds(5));
  sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
    sweeping_ = false;
    if (!ec) {
      Sweep();
    }
  });
}

void ConnectionPool::Sweep() {
  const auto now = std::chrono::steady_clock::now();
  bool any = false;
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& q = it->second;
    while (!q.empty() && now - q.front()->idle_since >= idle_timeout_) {
      q.front()->Close();
      q.pop_front();
    }
    if (q.empty()) {
      idle_.erase(it++);
    } else {
      any = true;
      ++it;
    }
  }
  if (any) {
    ArmSweep();
  }
}

}  // namespace ccrelay::upstream
