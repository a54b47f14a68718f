#pragma once

// A minimal asynchronous HTTP/1.1 client for one SSE stream at a time on a kept-alive
// connection: writes a prepared request, then timestamps each complete SSE event as its last
// byte is read. Used by the stream probe and the connection-scale run.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "bench/bench_common.h"

namespace ccrelay::bench {

struct StreamResult {
  int status = 0;
  std::string error;                     // empty when the exchange completed
  std::int64_t start_ns = 0;             // just before the request was written
  std::vector<std::int64_t> arrival_ns;  // per event, when its last byte was read
  std::vector<std::int64_t> sent_ns;     // per event, "mock_t_ns" (0 when absent)
  bool saw_message_stop = false;
  std::size_t body_bytes = 0;

  bool ok() const { return error.empty() && status == 200 && saw_message_stop; }
};

class SseClient : public std::enable_shared_from_this<SseClient> {
 public:
  using Callback = std::function<void(SseClient&)>;

  SseClient(boost::asio::io_context& ioc, boost::asio::ip::tcp::endpoint endpoint,
            const std::string& request, std::size_t read_chunk)
      : socket_(ioc), endpoint_(endpoint), request_(request), chunk_(read_chunk) {}

  // Runs one exchange; calls on_first_event (once, may be null) and then on_done. Reuses the
  // connection when it is still open.
  void Run(Callback on_first_event, Callback on_done) {
    on_first_event_ = std::move(on_first_event);
    on_done_ = std::move(on_done);
    result_ = StreamResult();
    pending_.clear();
    if (socket_.is_open()) {
      Write();
      return;
    }
    socket_.async_connect(endpoint_, [self = shared_from_this()](boost::beast::error_code ec) {
      if (ec) {
        self->Fail("connect: " + ec.message());
        return;
      }
      boost::beast::error_code ignored;
      self->socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
      self->Write();
    });
  }

  const StreamResult& result() const { return result_; }
  void Close() {
    boost::beast::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void Write() {
    result_.start_ns = NowNs();
    boost::asio::async_write(socket_, boost::asio::buffer(request_),
                             [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
                               if (ec) {
                                 self->Fail("write: " + ec.message());
                                 return;
                               }
                               self->parser_.emplace();
                               self->parser_->body_limit(boost::none);
                               self->ReadSome();
                             });
  }

  void ReadSome() {
    parser_->get().body().data = chunk_.data();
    parser_->get().body().size = chunk_.size();
    boost::beast::http::async_read_some(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
          self->OnRead(ec);
        });
  }

  void OnRead(boost::beast::error_code ec) {
    if (ec == boost::beast::http::error::need_buffer) {
      ec = {};
    }
    if (ec) {
      Fail("read: " + ec.message());
      return;
    }
    const std::int64_t now = NowNs();
    if (parser_->is_header_done() && result_.status == 0) {
      result_.status = static_cast<int>(parser_->get().result_int());
    }
    const std::size_t got = chunk_.size() - parser_->get().body().size;
    result_.body_bytes += got;
    Feed(std::string_view(chunk_.data(), got), now);
    if (parser_->is_done()) {
      const bool keep_alive = parser_->keep_alive();
      parser_.reset();
      if (!keep_alive) {
        Close();
      }
      Done();
      return;
    }
    ReadSome();
  }

  // Splits the decoded body into events ("\n\n"-terminated) and timestamps each one.
  void Feed(std::string_view data, std::int64_t now) {
    pending_.append(data);
    std::size_t start = 0;
    for (;;) {
      const std::size_t end = pending_.find("\n\n", start);
      if (end == std::string::npos) {
        break;
      }
      OnEvent(std::string_view(pending_).substr(start, end - start), now);
      start = end + 2;
    }
    pending_.erase(0, start);
  }

  void OnEvent(std::string_view event, std::int64_t now) {
    if (event.find_first_not_of("\r\n") == std::string_view::npos) {
      return;
    }
    result_.arrival_ns.push_back(now);
    std::int64_t sent = 0;
    constexpr std::string_view kStamp = "\"mock_t_ns\":\"";
    const std::size_t pos = event.find(kStamp);
    if (pos != std::string_view::npos) {
      sent = std::strtoll(std::string(event.substr(pos + kStamp.size(), 20)).c_str(), nullptr, 10);
    }
    result_.sent_ns.push_back(sent);
    if (event.rfind("event: message_stop", 0) == 0) {
      result_.saw_message_stop = true;
    }
    if (result_.arrival_ns.size() == 1 && on_first_event_) {
      on_first_event_(*this);
    }
  }

  void Fail(std::string error) {
    result_.error = std::move(error);
    Close();
    Done();
  }

  void Done() {
    Callback done = std::move(on_done_);
    on_done_ = nullptr;
    on_first_event_ = nullptr;
    if (done) {
      done(*this);
    }
  }

  boost::asio::ip::tcp::socket socket_;
  boost::asio::ip::tcp::endpoint endpoint_;
  const std::string& request_;
  std::vector<char> chunk_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::buffer_body>> parser_;
  std::string pending_;
  StreamResult result_;
  Callback on_first_event_;
  Callback on_done_;
};

}  // namespace ccrelay::bench
