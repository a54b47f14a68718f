#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include "dataplane/http/body_buffer.h"
#include "dataplane/proxy/client_stream.h"
#include "dataplane/proxy/exchange.h"
#include "dataplane/upstream/lazy_deadline.h"

namespace ccrelay::server {

class Worker;

// One client connection: reads requests (with header/body limits and timeouts), answers the
// relay's own endpoints (local_endpoints.h), and hands /v1/messages and count_tokens to an
// Exchange. The session is the only writer of its socket: it formats every response head in one
// place and writes what the exchange hands it (proxy::ClientStream), one write at a time. While
// an exchange runs, one read stays pending on the socket so a client that goes away cancels the
// upstream request at once. The session owns its exchange; the exchange sees the session only
// as a ClientStream.
class DownstreamSession : public proxy::ClientStream,
                          public std::enable_shared_from_this<DownstreamSession> {
 public:
  // `metrics_only`: a connection of the metrics listener, which serves only /metrics and /health.
  DownstreamSession(boost::asio::ip::tcp::socket&& socket, Worker& worker, uint64_t id,
                    bool metrics_only = false);
  ~DownstreamSession() override;

  void Start();
  // Graceful shutdown: an idle connection closes now, a busy one after its response.
  void Drain();
  // Shutdown after the drain deadline: cancels the exchange (if any) and closes the connection.
  void Abort();

  // proxy::ClientStream
  void SendHead(const proxy::ResponseHead& head, std::string_view body, bool end) override;
  void SendData(std::string_view body, bool end) override;
  void SendRaw(std::string_view bytes) override;
  void ExchangeDone(bool keep_alive) override;

  // "HTTP/1.1 <status> <reason>\r\n", the header lines, the framing, Connection: close when
  // `close`, and the blank line: every response head of the relay is formatted here.
  static void FormatHead(const proxy::ResponseHead& head, bool close, std::string* out);

 private:
  using RequestParser =
      boost::beast::http::request_parser<http::BufferBody, http::ArenaAllocator<char>>;

  void StartRead();
  // Reads what the client sent into the read buffer (the idle wait for a request, or bytes that
  // came while an exchange runs).
  void ReadSome();
  void OnReadSome(const boost::system::error_code& ec, size_t n);
  void OnWatch(const boost::system::error_code& ec);
  // The read buffer comes from the worker's pool while a request is read, and goes back to it
  // while the exchange runs.
  void EnsureReadBuffer();
  void ReleaseReadBuffer();
  void ReadHeader();
  void OnHeader(const boost::system::error_code& ec, size_t n);
  void OnContinueWritten(const boost::system::error_code& ec, size_t n);
  void ReadBody();
  void OnBody(const boost::system::error_code& ec, size_t n);
  // A body with Content-Length is read straight into the request's body buffer (no staging
  // buffer, as few reads as the socket allows); chunked bodies go through the parser.
  void OnBodyDirect(const boost::system::error_code& ec, size_t n);
  void Dispatch();
  void StartExchange(std::string_view path);
  void WriteResponse(int status, std::string_view content_type, std::string_view body,
                     std::string_view extra_headers = {});
  void WriteError(int status, std::string_view message, bool close = false,
                  std::string_view extra_headers = {});
  void OnResponseWritten(bool close, const boost::system::error_code& ec, size_t n);
  // The body of an exchange's write (chunk-framed when the head said so) after what out_ holds.
  void AppendBody(std::string_view body, bool end);
  void WriteForExchange();
  void OnExchangeWritten(const boost::system::error_code& ec, size_t n);
  // The client is gone (read error, failed or timed out write): the exchange is abandoned.
  void AbandonExchange();
  void ArmDeadline(std::chrono::milliseconds d);
  void DisarmDeadline();
  void OnDeadline();
  void RecycleBody();
  void Close();
  void NewRequestId();  // into request_id_

  boost::asio::ip::tcp::socket socket_;
  Worker& worker_;
  const bool metrics_only_;
  std::string conn_id_;
  routing::RoutingTableConstSharedPtr table_;  // held for the life of one request
  boost::beast::flat_buffer buffer_;
  // The header fields of the request being read (null between an exchange's start and the next
  // request).
  http::FieldArena* field_arena_ = nullptr;
  std::optional<RequestParser> parser_;
  upstream::LazyDeadline<DownstreamSession> deadline_;
  std::string request_id_;
  // The user of a disabled relay key while its 401 is written (the usage record names it).
  const routing::CompiledUser* refused_user_ = nullptr;
  std::shared_ptr<proxy::Exchange> exchange_;
  // The session's hold on itself while its exchange runs (gRPC's AddHold): the exchange's
  // pending operations hold the exchange, not the session, and the watch read may complete
  // (pipelined bytes) before the answer does. Dropped when the exchange is done or abandoned.
  std::shared_ptr<DownstreamSession> hold_;
  std::chrono::steady_clock::time_point request_start_;
  bool reading_ = false;
  bool in_exchange_ = false;
  bool draining_ = false;
  bool closed_ = false;
  bool timed_out_ = false;
  uint64_t requests_ = 0;

  // The write side (one write at a time).
  std::string out_;  // a head, chunk framing, or a whole local response
  std::array<boost::asio::const_buffer, 4> write_bufs_;
  size_t write_buf_count_ = 0;
  bool exchange_chunked_ = false;  // the exchange's answer is chunk-framed
  bool exchange_close_ = false;    // the exchange's answer said Connection: close
};

}  // namespace ccrelay::server
