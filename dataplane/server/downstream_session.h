#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "dataplane/proxy/exchange.h"

namespace ccrelay::server {

class Worker;

// One client connection: reads requests (with header/body limits and timeouts), answers the
// relay's own endpoints, and hands /v1/messages and count_tokens to an Exchange. While an
// exchange runs, one read stays pending on the socket so a client that goes away cancels the
// upstream request at once.
class DownstreamSession : public proxy::ExchangeOwner,
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

  // proxy::ExchangeOwner
  void OnExchangeDone(bool keep_alive) override;

 private:
  void StartRead();
  void OnReadSome(const boost::system::error_code& ec, size_t n);
  void ReadHeader();
  void OnHeader(const boost::system::error_code& ec, size_t n);
  void OnContinueWritten(const boost::system::error_code& ec, size_t n);
  void ReadBody();
  void OnBody(const boost::system::error_code& ec, size_t n);
  // A body with Content-Length is read straight into the request's body string (no staging
  // buffer, as few reads as the socket allows); chunked bodies go through the parser.
  void OnBodyDirect(const boost::system::error_code& ec, size_t n);
  void Dispatch();
  void HandleModels(std::string_view query);
  void HandleMetrics();
  void WriteResponse(int status, std::string_view content_type, std::string body,
                     std::string_view extra_headers = {});
  void WriteError(int status, std::string_view message, bool close = false,
                  std::string_view extra_headers = {});
  void OnResponseWritten(bool close, const boost::system::error_code& ec, size_t n);
  void ArmDeadline(std::chrono::milliseconds d);
  void DisarmDeadline();
  void Close();
  std::string NewRequestId();

  boost::asio::ip::tcp::socket socket_;
  Worker& worker_;
  const bool metrics_only_;
  std::string conn_id_;
  routing::RoutingTableConstSharedPtr table_;  // held for the life of one request
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  boost::asio::steady_timer deadline_;
  uint64_t deadline_gen_ = 0;
  std::string out_;
  std::string request_id_;
  std::shared_ptr<proxy::Exchange> exchange_;
  std::chrono::steady_clock::time_point request_start_;
  bool reading_ = false;
  bool in_exchange_ = false;
  bool draining_ = false;
  bool closed_ = false;
  bool timed_out_ = false;
  uint64_t requests_ = 0;
};

}  // namespace ccrelay::server
