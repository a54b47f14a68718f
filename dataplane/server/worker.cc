#include "dataplane/server/worker.h"

#include <pthread.h>

#include <memory>
#include <vector>

#include "dataplane/server/downstream_session.h"
#include "dataplane/common/str.h"

namespace ccrelay::server {

Worker::Worker(std::atomic<int64_t>& active_sessions)
    : guard_(boost::asio::make_work_guard(ioc_)),
      context_(ioc_),
      active_sessions_(active_sessions) {}

Worker::~Worker() { Stop(); }

void Worker::StartThread(int index) {
  thread_ = std::thread([this, index] {
    const std::string name = common::StrCat("ccr-worker-", index);
    pthread_setname_np(pthread_self(), name.c_str());
    ioc_.run();
  });
}

void Worker::Stop() {
  if (!thread_.joinable()) {
    return;
  }
  boost::asio::post(ioc_, [this] { context_.pool.Clear(); });
  guard_.reset();
  ioc_.stop();
  thread_.join();
}

void Worker::SetTable(routing::RoutingTableConstSharedPtr table) {
  context_.pool.SetIdleTimeout(table->timeouts.upstream_idle_pool);
  table_ = std::move(table);
}

boost::beast::flat_buffer Worker::TakeReadBuffer() {
  if (read_buffers_.empty()) {
    boost::beast::flat_buffer buffer;
    buffer.reserve(kReadBufferBytes);
    return buffer;
  }
  boost::beast::flat_buffer buffer = std::move(read_buffers_.back());
  read_buffers_.pop_back();
  return buffer;
}

void Worker::GiveReadBuffer(boost::beast::flat_buffer&& buffer) {
  // One that a large request head grew is freed, not kept.
  if (buffer.capacity() < kReadBufferBytes || buffer.capacity() > 2 * kReadBufferBytes ||
      read_buffers_.size() >= kMaxKeptReadBuffers) {
    return;
  }
  buffer.clear();
  read_buffers_.push_back(std::move(buffer));
}

void Worker::Register(DownstreamSession* s) { sessions_.insert(s); }
void Worker::Unregister(DownstreamSession* s) { sessions_.erase(s); }

void Worker::AbortSessions() {
  draining_ = true;  // connections posted by the acceptor meanwhile are dropped
  std::vector<std::weak_ptr<DownstreamSession>> open;
  open.reserve(sessions_.size());
  for (DownstreamSession* s : sessions_) {
    open.push_back(s->weak_from_this());
  }
  for (const auto& weak : open) {
    if (auto s = weak.lock()) {
      s->Abort();
    }
  }
  ioc_.restart();
  ioc_.poll();
}

void Worker::DrainSessions() {
  draining_ = true;
  std::vector<DownstreamSession*> copy(sessions_.begin(), sessions_.end());
  for (DownstreamSession* s : copy) {
    s->Drain();
  }
}

}  // namespace ccrelay::server
