#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "absl/container/flat_hash_set.h"
#include "dataplane/proxy/exchange.h"
#include "dataplane/routing/routing_table.h"

namespace ccrelay::server {

class DownstreamSession;
}  // namespace ccrelay::server

namespace ccrelay::stats {
class DataPlaneMetrics;
}  // namespace ccrelay::stats

namespace ccrelay::server {

// One worker: an io_context run by one thread. Connections stay on their worker for life; the
// routing table pointer, the upstream pool and the session set are touched only on this thread.
class Worker {
 public:
  explicit Worker(std::atomic<int64_t>& active_sessions);
  ~Worker();

  void StartThread(int index);
  void Stop();   // stops the io_context and joins the thread
  boost::asio::io_context& ioc() { return ioc_; }
  proxy::WorkerContext& context() { return context_; }

  // Worker thread only.
  const routing::RoutingTableConstSharedPtr& table() const { return table_; }
  void SetTable(routing::RoutingTableConstSharedPtr table);
  void Register(DownstreamSession* s);
  void Unregister(DownstreamSession* s);
  void DrainSessions();
  // After Stop(), on the stopping thread: aborts every session still open (the drain deadline
  // passed) and runs the aborted operations' handlers, so that sessions and exchanges are freed
  // now, while everything they point to exists (a session holds itself while its exchange runs).
  void AbortSessions();
  bool draining() const { return draining_; }
  // Client read buffers (worker thread only): a session takes one to read a request and gives
  // it back while its answer streams, so a held stream keeps none and a request mallocs none.
  boost::beast::flat_buffer TakeReadBuffer();
  void GiveReadBuffer(boost::beast::flat_buffer&& buffer);
  size_t kept_read_buffers() const { return read_buffers_.size(); }
  static constexpr size_t kReadBufferBytes = 16 * 1024;
  static constexpr size_t kMaxKeptReadBuffers = 64;
  std::atomic<int64_t>& active_sessions() { return active_sessions_; }
  // The data plane's metrics, served by GET /metrics (set before the thread starts).
  stats::DataPlaneMetrics* metrics() const { return metrics_; }
  void set_metrics(stats::DataPlaneMetrics* metrics) { metrics_ = metrics; }

 private:
  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  proxy::WorkerContext context_;
  routing::RoutingTableConstSharedPtr table_;
  absl::flat_hash_set<DownstreamSession*> sessions_;
  std::vector<boost::beast::flat_buffer> read_buffers_;
  std::atomic<int64_t>& active_sessions_;
  bool draining_ = false;
  stats::DataPlaneMetrics* metrics_ = nullptr;
  std::thread thread_;
};

}  // namespace ccrelay::server
