#include "controlplane/health/health_probe.h"

#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include "dataplane/common/str.h"
#include "dataplane/upstream/tls_context_impl.h"

namespace ccrelay::controlplane {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using common::StrCat;

constexpr size_t kMaxBodyBytes = 64 * 1024;

// error.type of {"type":"error","error":{"type":...}} ("" for anything else).
std::string ErrorType(const std::string& body) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return "";
  }
  auto err = j.find("error");
  if (err == j.end() || !err->is_object()) {
    return "";
  }
  auto type = err->find("type");
  return type != err->end() && type->is_string() ? type->get<std::string>() : std::string();
}

class Probe : public std::enable_shared_from_this<Probe> {
 public:
  Probe(asio::io_context& ioc, ProbeRequest request, std::function<void(ProbeResult)> done)
      : resolver_(ioc),
        socket_(ioc),
        timer_(ioc),
        request_(std::move(request)),
        done_(std::move(done)) {}

  void Start() {
    timer_.expires_after(request_.timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) {
        self->timed_out_ = true;
        self->resolver_.cancel();
        self->CloseSocket();
      }
    });
    resolver_.async_resolve(request_.url.host, request_.url.port,
                            beast::bind_front_handler(&Probe::OnResolved, shared_from_this()));
  }

 private:
  void OnResolved(const error_code& ec, const asio::ip::tcp::resolver::results_type& results) {
    if (ec) {
      Fail("resolve", ec);
      return;
    }
    asio::async_connect(socket_, results,
                        [self = shared_from_this()](const error_code& e, const auto&) {
                          self->OnConnected(e);
                        });
  }

  void OnConnected(const error_code& ec) {
    if (ec) {
      Fail("connect", ec);
      return;
    }
    if (!request_.url.tls) {
      Send();
      return;
    }
    tls_.emplace(socket_, request_.tls->ctx);
    // SNI, and the certificate must name the host (verify_peer is set on the context).
    if (SSL_ctrl(tls_->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(request_.url.host.c_str())) != 1) {
      Finish(ProbeResult{0, "tls: cannot set SNI", ""});
      return;
    }
    tls_->set_verify_callback(asio::ssl::host_name_verification(request_.url.host));
    tls_->async_handshake(asio::ssl::stream_base::client,
                          [self = shared_from_this()](const error_code& e) {
                            if (e) {
                              self->Fail("tls handshake", e);
                            } else {
                              self->Send();
                            }
                          });
  }

  void Send() {
    req_.method(http::verb::get);
    req_.target(request_.target);
    req_.version(11);
    req_.set(http::field::host, request_.url.host_header);
    req_.set(http::field::user_agent, StrCat("cc-relay/", CCR_VERSION, " health-check"));
    req_.set(http::field::accept, "application/json");
    req_.set(http::field::connection, "close");
    for (const providers::HeaderField& h : request_.headers) {
      req_.set(h.name, h.value);
    }
    auto on_written = [self = shared_from_this()](const error_code& e, size_t) {
      if (e) {
        self->Fail("write", e);
      } else {
        self->Read();
      }
    };
    if (tls_) {
      http::async_write(*tls_, req_, std::move(on_written));
    } else {
      http::async_write(socket_, req_, std::move(on_written));
    }
  }

  void Read() {
    parser_.body_limit(kMaxBodyBytes);
    auto on_read = [self = shared_from_this()](const error_code& e, size_t) { self->OnRead(e); };
    if (tls_) {
      http::async_read(*tls_, buffer_, parser_, std::move(on_read));
    } else {
      http::async_read(socket_, buffer_, parser_, std::move(on_read));
    }
  }

  void OnRead(const error_code& ec) {
    // The status line is what counts: a body that is too long or cut short does not matter.
    if (ec && !(parser_.is_header_done() && !timed_out_)) {
      Fail("read", ec);
      return;
    }
    ProbeResult r;
    r.status = static_cast<int>(parser_.get().result_int());
    if (r.status >= 400 && parser_.is_done()) {
      r.error_type = ErrorType(parser_.get().body());
    }
    Finish(std::move(r));
  }

  void Fail(std::string_view step, const error_code& ec) {
    Finish(ProbeResult{0, timed_out_ ? StrCat("timeout after ", request_.timeout.count(), " ms (",
                                              step, ")")
                                     : StrCat(step, ": ", ec.message()),
                       ""});
  }

  void Finish(ProbeResult result) {
    if (finished_) {
      return;
    }
    finished_ = true;
    timer_.cancel();
    CloseSocket();
    done_(std::move(result));
  }

  void CloseSocket() {
    error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  asio::ip::tcp::resolver resolver_;
  asio::ip::tcp::socket socket_;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> req_;
  http::response_parser<http::string_body> parser_;
  ProbeRequest request_;
  std::function<void(ProbeResult)> done_;
  bool timed_out_ = false;
  bool finished_ = false;
};

}  // namespace

void StartProbe(asio::io_context& ioc, ProbeRequest request,
                std::function<void(ProbeResult)> done) {
  std::make_shared<Probe>(ioc, std::move(request), std::move(done))->Start();
}

}  // namespace ccrelay::controlplane
