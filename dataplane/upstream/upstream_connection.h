#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>

namespace ccrelay::upstream {

// One connection to an upstream, plain TCP or TLS. I/O is forwarded to whichever stream it is;
// the leftover read buffer belongs to the connection (it goes back to the pool with it).
class UpstreamConnection {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using TlsStream = boost::asio::ssl::stream<Socket&>;

  // Beast sizes each socket read by the buffer's free capacity (at least 512 bytes): 2 KiB up
  // front holds the events of a slow stream (one per read) and keeps a held stream small; the
  // exchange grows it to kMaxReadBufferBytes once a body read fills its own buffer (a burst, a
  // fast or large answer). A longer response head grows it as Beast reads it.
  static constexpr size_t kReadBufferBytes = 2 * 1024;
  static constexpr size_t kMaxReadBufferBytes = 16 * 1024;

  UpstreamConnection(boost::asio::any_io_executor ex, std::string pool_key)
      : socket_(std::move(ex)), pool_key_(std::move(pool_key)) {
    buffer_.reserve(kReadBufferBytes);
  }

  Socket& socket() { return socket_; }
  bool tls() const { return tls_.has_value(); }
  TlsStream& tls_stream() { return *tls_; }
  void EnableTls(boost::asio::ssl::context& ctx) { tls_.emplace(socket_, ctx); }
  boost::beast::flat_buffer& buffer() { return buffer_; }
  const std::string& pool_key() const { return pool_key_; }

  std::chrono::steady_clock::time_point idle_since;
  uint64_t requests = 0;  // requests served on this connection (0 = fresh)

  template <class Buffers, class Handler>
  void AsyncWrite(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      boost::asio::async_write(*tls_, buffers, std::forward<Handler>(handler));
    } else {
      boost::asio::async_write(socket_, buffers, std::forward<Handler>(handler));
    }
  }

  template <class Parser, class Handler>
  void AsyncReadHeader(Parser& parser, Handler&& handler) {
    if (tls_) {
      boost::beast::http::async_read_header(*tls_, buffer_, parser,
                                            std::forward<Handler>(handler));
    } else {
      boost::beast::http::async_read_header(socket_, buffer_, parser,
                                            std::forward<Handler>(handler));
    }
  }

  template <class Parser, class Handler>
  void AsyncReadSome(Parser& parser, Handler&& handler) {
    if (tls_) {
      boost::beast::http::async_read_some(*tls_, buffer_, parser, std::forward<Handler>(handler));
    } else {
      boost::beast::http::async_read_some(socket_, buffer_, parser,
                                          std::forward<Handler>(handler));
    }
  }

  // Cancels every pending operation and closes the socket (no TLS close_notify: the connection
  // is being abandoned).
  void Close() {
    boost::system::error_code ec;
    socket_.shutdown(Socket::shutdown_both, ec);
    socket_.close(ec);
  }

  // True when an idle pooled connection still looks usable: open, and nothing (EOF, data, a TLS
  // alert) arrived while it sat in the pool.
  bool StillUsable();

 private:
  Socket socket_;
  std::optional<TlsStream> tls_;
  boost::beast::flat_buffer buffer_;
  std::string pool_key_;
};

using UpstreamConnectionPtr = std::unique_ptr<UpstreamConnection>;

}  // namespace ccrelay::upstream
