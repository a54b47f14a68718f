#pragma once

#include <chrono>
#include <deque>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/container/flat_hash_map.h"
#include "dataplane/upstream/upstream_connection.h"

namespace ccrelay::upstream {

// Idle kept-alive upstream connections of one worker, by pool key (scheme, host, port, CA).
// Touched only from its worker's thread: no lock.
class ConnectionPool {
 public:
  explicit ConnectionPool(boost::asio::io_context& ioc);
  ~ConnectionPool();

  // A pooled connection that still looks usable, or nullptr (the caller then connects).
  UpstreamConnectionPtr Take(std::string_view pool_key);
  // Returns a connection whose last response was fully read and that may be reused.
  void Put(UpstreamConnectionPtr conn);
  void SetIdleTimeout(std::chrono::milliseconds idle) { idle_timeout_ = idle; }
  // Closes every idle connection (shutdown).
  void Clear();
  size_t idle_count() const;

 private:
  void ArmSweep();
  void Sweep();

  boost::asio::steady_timer sweep_timer_;
  std::chrono::milliseconds idle_timeout_{60000};
  static constexpr size_t kMaxIdlePerKey = 256;
  // Idle longer than this, a connection is checked (MSG_PEEK) before reuse; a syscall per
  // request saved on a busy relay.
  static constexpr std::chrono::milliseconds kPeekAfterIdle{500};
  absl::flat_hash_map<std::string, std::deque<UpstreamConnectionPtr>> idle_;
  bool sweeping_ = false;
};

}  // namespace ccrelay::upstream
