#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "dataplane/upstream/connection_pool.h"
#include "dataplane/upstream/lazy_deadline.h"
#include "dataplane/upstream/tls_context.h"
#include "dataplane/upstream/upstream_request.h"

namespace ccrelay::upstream {

// The UpstreamRequest over Asio: one per exchange (or probe), reused by its attempts; lives in a
// shared_ptr that its pending handlers hold. Not thread-safe: one executor.
class HttpUpstreamRequest : public UpstreamRequest,
                            public std::enable_shared_from_this<HttpUpstreamRequest> {
 public:
  // `pool`: the worker's idle connections (nullptr: always a fresh connection, closed after the
  // answer, as health probes want). `resolver` outlives the request.
  HttpUpstreamRequest(boost::asio::any_io_executor executor,
                      boost::asio::ip::tcp::resolver& resolver, ConnectionPool* pool,
                      UpstreamCallbacks& callbacks);
  ~HttpUpstreamRequest() override;
  HttpUpstreamRequest(const HttpUpstreamRequest&) = delete;
  HttpUpstreamRequest& operator=(const HttpUpstreamRequest&) = delete;

  // UpstreamRequest
  void Send(const UpstreamEndpoint& endpoint, const StepTimeouts& timeouts,
            std::span<const boost::asio::const_buffer> request, bool fresh_connection) override;
  std::string_view TakeBuffered(bool* end) override;
  void ReadBody() override;
  void Cancel() override;

 private:
  void Connect();
  void OnResolved(const boost::system::error_code& ec,
                  const boost::asio::ip::tcp::resolver::results_type& results);
  void OnConnected(const boost::system::error_code& ec);
  void OnHandshake(const boost::system::error_code& ec);
  void Write();
  void OnWritten(const boost::system::error_code& ec, size_t n);
  void ReadHead();
  void OnHead(const boost::system::error_code& ec, size_t n);
  void OnBody(const boost::system::error_code& ec, size_t n);
  // Parses body bytes already in the connection's buffer into buf_[offset, ...); returns how
  // many were produced.
  size_t DrainBuffered(size_t offset);
  void EnsureReadBuffer();
  void GrowReadBufferAfter(size_t got);
  void PointBodyAt(size_t offset);
  void Fail(FailureKind kind, std::string detail);
  // The body is complete: the connection goes back to the pool when it may.
  void Release();
  void DropConnection();
  void Arm(std::chrono::milliseconds d);
  void Disarm();
  void OnDeadline();
  bool Gone() const { return callbacks_ == nullptr; }

  boost::asio::any_io_executor executor_;
  boost::asio::ip::tcp::resolver& resolver_;
  ConnectionPool* pool_;
  UpstreamCallbacks* callbacks_;
  UpstreamEndpoint endpoint_;
  StepTimeouts timeouts_;
  LazyDeadline<HttpUpstreamRequest> deadline_;  // the current step's timer
  bool timed_out_ = false;
  bool reused_ = false;
  bool got_head_ = false;
  // The request's buffers (Asio keeps only the span: the array outlives the write).
  std::array<boost::asio::const_buffer, 8> request_bufs_;
  size_t request_buf_count_ = 0;

  UpstreamConnectionPtr conn_;
  // Connections closed while an operation may still be pending on them: kept until this object
  // goes, since a pending read uses the connection's buffer until its handler has run.
  std::vector<UpstreamConnectionPtr> closed_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::buffer_body>> parser_;

  // Body read buffer, taken (not zeroed) when the first body bytes come: 2 KiB (a held SSE
  // stream gets a few hundred bytes per read), 16 KiB once a read fills half of it or on a
  // pooled connection that already served a fast answer. Kept across attempts; its blocks are
  // recycled by the worker's thread (common::RecyclingAllocator), not malloc'ed per request.
  template <size_t N>
  struct ReadBlock {
    char bytes[N];
  };
  static constexpr size_t kReadBufferBytes = 2 * 1024;
  static constexpr size_t kMaxReadBufferBytes = 16 * 1024;
  static char* NewReadBuffer(size_t size);
  static void FreeReadBuffer(char* buf, size_t size);
  char* buf_ = nullptr;
  size_t buf_size_ = 0;
};

}  // namespace ccrelay::upstream
