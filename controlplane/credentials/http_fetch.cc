#include "controlplane/credentials/http_fetch.h"

#include <chrono>
#include <string_view>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>

#include "dataplane/common/status_macros.h"
#include "dataplane/common/str.h"
#include "dataplane/upstream/tls_context.h"
#include "dataplane/upstream/tls_context_impl.h"
#include "dataplane/upstream/upstream_url.h"

namespace ccrelay::controlplane::aws {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using common::StrCat;
using tcp = asio::ip::tcp;

constexpr size_t kMaxHeaderBytes = size_t{16} * 1024;

struct Target {
  upstream::UpstreamUrl base;
  std::string target;  // path and query
};

absl::StatusOr<Target> SplitUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    return absl::InvalidArgumentError(
        StrCat("URL \"", UrlForMessages(url), "\": must start with http:// or https://"));
  }
  const size_t at = url.find_first_of("/?#", scheme_end + 3);
  Target out;
  auto base = upstream::ParseUpstreamUrl(std::string_view(url).substr(0, at));
  if (!base.ok()) {
    return absl::InvalidArgumentError(
        StrCat("URL \"", UrlForMessages(url), "\": ", base.status().message()));
  }
  out.base = *std::move(base);
  std::string_view target = at == std::string::npos ? "" : std::string_view(url).substr(at);
  target = target.substr(0, target.find('#'));
  out.target = target.empty() || target.front() != '/' ? StrCat("/", target) : std::string(target);
  return out;
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// Runs what is pending on `ioc` to completion and makes it ready for the next step.
void RunAll(asio::io_context& ioc) {
  ioc.run();
  ioc.restart();
}

bool IsTimeout(const error_code& ec) { return ec == beast::error::timeout; }

// Writes the request and reads the whole answer (the stream is connected, TLS done).
template <class Stream>
absl::StatusOr<HttpFetchResponse> Exchange(asio::io_context& ioc, Stream& stream,
                                           const http::request<http::string_body>& req,
                                           const HttpFetchRequest& request,
                                           const std::string& where) {
  beast::get_lowest_layer(stream).expires_after(request.timeouts.response);
  error_code ec;
  http::async_write(stream, req, [&ec](const error_code& e, size_t) { ec = e; });
  RunAll(ioc);
  if (IsTimeout(ec)) {
    return absl::DeadlineExceededError(StrCat(
        where, ": timeout after ", request.timeouts.response.count(), " ms writing the request"));
  }
  if (ec) {
    return absl::UnavailableError(StrCat(where, ": write: ", ec.message()));
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(request.max_body_bytes);
  http::async_read(stream, buffer, parser, [&ec](const error_code& e, size_t) { ec = e; });
  RunAll(ioc);
  if (IsTimeout(ec)) {
    return absl::DeadlineExceededError(
        StrCat(where, ": no answer within ", request.timeouts.response.count(), " ms"));
  }
  if (ec == http::error::body_limit) {
    return absl::DataLossError(
        StrCat(where, ": answer larger than ", request.max_body_bytes, " bytes"));
  }
  if (ec) {
    return absl::DataLossError(StrCat(where, ": read: ", ec.message()));
  }
  HttpFetchResponse out;
  out.status = static_cast<int>(parser.get().result_int());
  for (const auto& field : parser.get()) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(parser.get().body());
  return out;
}

}  // namespace

const std::string* HttpFetchResponse::Header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (common::EqualsIgnoreCase(field, name)) {
      return &value;
    }
  }
  return nullptr;
}

std::string UrlForMessages(const std::string& url) { return url.substr(0, url.find('?')); }

std::string FormEncode(std::string_view value) {
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size() * 3);
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '_' || u == '.' || u == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

absl::StatusOr<HttpFetchResponse> HttpFetch(const HttpFetchRequest& request) {
  ASSIGN_OR_RETURN(const Target target, SplitUrl(request.url));
  const std::string where = StrCat(request.method, " ", UrlForMessages(request.url));
  const http::verb verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    return absl::InvalidArgumentError(StrCat(where, ": unknown method"));
  }
  http::request<http::string_body> req{verb, target.target, 11};
  req.set(http::field::host, target.base.host_header);
  req.set(http::field::user_agent, StrCat("cc-relay/", CCR_VERSION));
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || HasLineBreak(name) || HasLineBreak(value)) {
      // The value may be a credential: name the header only.
      return absl::InvalidArgumentError(StrCat(where, ": header ", name, " has a line break"));
    }
    req.set(name, value);
  }
  req.body() = request.body;
  req.content_length(request.body.size());

  asio::io_context ioc(1);
  const auto connect_deadline = std::chrono::steady_clock::now() + request.timeouts.connect;
  const std::string connect_budget = StrCat(request.timeouts.connect.count(), " ms");

  // Resolve, under the connect deadline.
  tcp::resolver resolver(ioc);
  asio::steady_timer timer(ioc);
  bool resolve_timed_out = false;
  timer.expires_at(connect_deadline);
  timer.async_wait([&](const error_code& e) {
    if (!e) {
      resolve_timed_out = true;
      resolver.cancel();
    }
  });
  error_code ec;
  tcp::resolver::results_type endpoints;
  resolver.async_resolve(target.base.host, target.base.port, tcp::resolver::numeric_service,
                         [&](const error_code& e, tcp::resolver::results_type r) {
                           ec = e;
                           endpoints = std::move(r);
                           timer.cancel();
                         });
  RunAll(ioc);
  if (resolve_timed_out) {
    return absl::UnavailableError(StrCat(where, ": resolve: timeout after ", connect_budget));
  }
  if (ec) {
    return absl::UnavailableError(
        StrCat(where, ": resolve ", target.base.host, ": ", ec.message()));
  }

  beast::tcp_stream tcp_stream(ioc);
  tcp_stream.expires_at(connect_deadline);
  tcp_stream.async_connect(endpoints, [&ec](const error_code& e, const tcp::endpoint&) { ec = e; });
  RunAll(ioc);
  if (IsTimeout(ec)) {
    return absl::UnavailableError(StrCat(where, ": connect: timeout after ", connect_budget));
  }
  if (ec) {
    return absl::UnavailableError(StrCat(where, ": connect: ", ec.message()));
  }
  if (!target.base.tls) {
    auto out = Exchange(ioc, tcp_stream, req, request, where);
    tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return out;
  }

  ASSIGN_OR_RETURN(const upstream::TlsContextSharedPtr tls,
                   upstream::CreateTlsContext(request.ca_file));
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), tls->ctx);
  // SNI (SSL_set_tlsext_host_name without the macro's C-style cast); the certificate must name
  // the host (verify_peer is set on the context).
  const std::string& host = target.base.host;
  if (SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(host.c_str())) != 1) {
    return absl::UnavailableError(StrCat(where, ": tls: cannot set SNI"));
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(host));
  beast::get_lowest_layer(stream).expires_at(connect_deadline);
  stream.async_handshake(asio::ssl::stream_base::client, [&ec](const error_code& e) { ec = e; });
  RunAll(ioc);
  if (IsTimeout(ec)) {
    return absl::UnavailableError(StrCat(where, ": tls handshake: timeout after ", connect_budget));
  }
  if (ec) {
    return absl::UnavailableError(StrCat(where, ": tls handshake: ", ec.message()));
  }
  auto out = Exchange(ioc, stream, req, request, where);
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  return out;
}

}  // namespace ccrelay::controlplane::aws
