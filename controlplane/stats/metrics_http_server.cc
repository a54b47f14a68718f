#include "controlplane/stats/metrics_http_server.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <fstream>

#include <arpa/inet.h>
#include <boost/asio/ssl/context.hpp>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane/common/str.h"
#include "dataplane/stats/prometheus_text.h"

namespace ccrelay::controlplane {
namespace {

using common::StrCat;

constexpr size_t kMaxRequestHead = 16 * 1024;
constexpr size_t kMaxRequestBody = 1024 * 1024;
constexpr int kRequestTimeoutMs = 5000;

std::string Response(std::string_view status, std::string_view content_type, std::string_view body,
                     bool head, std::string_view extra_headers = "") {
  std::string out = StrCat("HTTP/1.1 ", status, "\r\ncontent-type: ", content_type,
                           "\r\ncontent-length: ", static_cast<uint64_t>(body.size()),
                           "\r\nconnection: close\r\n", extra_headers, "\r\n");
  if (!head) {
    out.append(body);
  }
  return out;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool IsLoopbackAddress(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&a)->sin_addr.s_addr) >> 24) == 127;
  }
  if (a.ss_family == AF_INET6) {
    const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      return v6.s6_addr[12] == 127;
    }
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

// The client's address as text; a v4-mapped v6 address as plain v4.
std::string AddressText(const sockaddr_storage& a) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a)->sin_addr, text, sizeof(text));
  } else if (a.ss_family == AF_INET6) {
    const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      ::inet_ntop(AF_INET, &v6.s6_addr[12], text, sizeof(text));
    } else {
      ::inet_ntop(AF_INET6, &v6, text, sizeof(text));
    }
  }
  return text;
}

// One accepted connection: a blocking socket (its SO_RCVTIMEO/SO_SNDTIMEO are the deadlines),
// and its TLS session when the listener has TLS. The TLS session runs OpenSSL directly on the
// socket (the context is Asio's): Asio's synchronous operations wait without a deadline.
class Conn {
 public:
  Conn(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  ~Conn() {
    if (ssl_ != nullptr) {
      SSL_free(ssl_);
    }
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  int fd() const { return fd_; }
  bool tls() const { return ssl_ != nullptr; }

  // >0 bytes read, 0 at the end, <0 on error or timeout.
  ssize_t Read(char* buf, size_t size) {
    for (;;) {
      if (ssl_ == nullptr) {
        const ssize_t n = ::recv(fd_, buf, size, 0);
        if (n < 0 && errno == EINTR) {
          continue;
        }
        return n;
      }
      const int n = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(size, INT_MAX)));
      if (n > 0) {
        return n;
      }
      const int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_SYSCALL && errno == EINTR) {
        continue;
      }
      return err == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
  }

  bool Write(std::string_view data) {
    if (ssl_ == nullptr) {
      return WriteAll(fd_, data);
    }
    while (!data.empty()) {
      const int n =
          SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), INT_MAX)));
      if (n <= 0) {
        if (SSL_get_error(ssl_, n) == SSL_ERROR_SYSCALL && errno == EINTR) {
          continue;
        }
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // TLS: sends close_notify (the response is complete); plaintext: nothing.
  void Finish() {
    if (ssl_ != nullptr) {
      (void)SSL_shutdown(ssl_);
    }
  }

 private:
  const int fd_;
  SSL* const ssl_;
};

// One connection's responder: writes to the connection; Closed() when the server stops or the
// peer has hung up.
class SocketResponder final : public HttpResponder {
 public:
  SocketResponder(Conn* conn, const std::atomic<bool>* stopping)
      : conn_(conn), stopping_(stopping) {}
  bool Send(std::string_view bytes) override {
    if (!ok_) {
      return false;
    }
    ok_ = conn_->Write(bytes);
    return ok_;
  }
  bool Closed() override {
    if (!ok_ || stopping_->load()) {
      return true;
    }
    pollfd p{conn_->fd(), POLLRDHUP, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      ok_ = false;
    }
    return !ok_;
  }

 private:
  Conn* const conn_;
  const std::atomic<bool>* const stopping_;
  bool ok_ = true;
};

// The server's TLS context: TLS 1.2 or newer, no renegotiation, the certificate chain and key
// from PEM files. A file that cannot be read or used is named in the error.
absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> ServerTlsContext(
    const MetricsHttpServer::Tls& tls) {
  for (const auto& [file, what] :
       {std::pair(tls.cert_file, "certificate"), std::pair(tls.key_file, "key")}) {
    std::ifstream in(file);
    if (!in) {
      return absl::FailedPreconditionError(
          StrCat("HTTP TLS ", what, " ", file, ": cannot read (", std::strerror(errno), ")"));
    }
  }
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  ctx->use_certificate_chain_file(tls.cert_file, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        StrCat("HTTP TLS certificate ", tls.cert_file, ": ", ec.message()));
  }
  ctx->use_private_key_file(tls.key_file, ssl::context::pem, ec);
  if (ec) {
    return absl::FailedPreconditionError(StrCat("HTTP TLS key ", tls.key_file, ": ", ec.message()));
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return absl::FailedPreconditionError(
        StrCat("HTTP TLS key ", tls.key_file, " does not match the certificate ", tls.cert_file));
  }
  return ctx;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, RenderFn render_metrics, RouteFn route, const Tls& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError("HTTP TLS needs both a certificate and a key");
  }
  std::unique_ptr<boost::asio::ssl::context> tls_context;
  if (!tls.cert_file.empty()) {
    auto ctx = ServerTlsContext(tls);
    if (!ctx.ok()) {
      return ctx.status();
    }
    tls_context = std::move(*ctx);
  }
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) {
    return absl::InvalidArgumentError(
        StrCat("HTTP listen address \"", listen, "\" is not HOST:PORT"));
  }
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  const bool ipv6 = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (ipv6) {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (const int rc =
          ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
      rc != 0) {
    return absl::InvalidArgumentError(
        StrCat("HTTP listen address \"", listen, "\": ", ::gai_strerror(rc)));
  }
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer());
  server->tls_ = std::move(tls_context);
  server->render_ = std::move(render_metrics);
  server->route_ = std::move(route);
  std::string bind_error = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      bind_error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
      bind_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    server->listen_fd_ = fd;
    break;
  }
  ::freeaddrinfo(res);
  if (server->listen_fd_ < 0) {
    return absl::UnavailableError(StrCat("cannot listen on ", listen, " (HTTP): ", bind_error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(server->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  uint16_t bound_port = 0;
  if (bound.ss_family == AF_INET6) {
    bound_port = ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);
  } else {
    bound_port = ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  }
  server->address_ = ipv6 ? StrCat("[", host, "]:", bound_port) : StrCat(host, ":", bound_port);
  if (::pipe2(server->stop_pipe_, O_CLOEXEC) != 0) {
    return absl::InternalError(StrCat("pipe: ", std::strerror(errno)));
  }
  server->thread_ = std::thread([s = server.get()] { s->Loop(); });
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  stopping_ = true;
  if (thread_.joinable()) {
    const char b = 'x';
    (void)!::write(stop_pipe_[1], &b, 1);
    thread_.join();
  }
  {
    // Connection threads see stopping_ within a second (a stream) or their 5 s deadline.
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return connections_ == 0; });
  }
  for (int fd : {listen_fd_, stop_pipe_[0], stop_pipe_[1]}) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) {
      return v;
    }
  }
  return {};
}

bool MetricsHttpServer::ParseHead(std::string_view head, HttpRequest* out) {
  const size_t line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) {
    return false;
  }
  out->method = std::string(line.substr(0, sp1));
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  out->query.clear();
  if (const size_t q = target.find('?'); q != std::string_view::npos) {
    out->query = std::string(target.substr(q + 1));
    target = target.substr(0, q);
  }
  out->path = std::string(target);
  out->headers.clear();
  std::string_view rest =
      line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
  while (!rest.empty()) {
    const size_t eol = rest.find("\r\n");
    const std::string_view h = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
    if (h.empty()) {
      break;
    }
    const size_t colon = h.find(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    out->headers.emplace_back(common::ToLower(common::StripWhitespace(h.substr(0, colon))),
                              std::string(common::StripWhitespace(h.substr(colon + 1))));
  }
  return true;
}

std::string MetricsHttpServer::Respond(std::string_view request_head,
                                       const RenderFn& render_metrics) {
  HttpRequest req;
  if (!ParseHead(request_head, &req)) {
    return Response("400 Bad Request", "text/plain; charset=utf-8", "bad request\n", false);
  }
  const std::string_view method = req.method;
  const std::string_view target = req.path;
  const bool head = method == "HEAD";
  if (target != "/metrics" && target != "/health") {
    return Response("404 Not Found", "text/plain; charset=utf-8", "not found\n", head);
  }
  if (method != "GET" && !head) {
    return Response("405 Method Not Allowed", "text/plain; charset=utf-8", "method not allowed\n",
                    false, "allow: GET, HEAD\r\n");
  }
  if (target == "/health") {
    return Response("200 OK", "application/json", "{\"status\":\"ok\"}", head);
  }
  return Response("200 OK", stats::kPrometheusContentType, render_metrics(), head);
}

void MetricsHttpServer::Loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    if (fds[1].revents != 0) {
      return;
    }
    if ((fds[0].revents & POLLIN) == 0) {
      continue;
    }
    const int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      continue;
    }
    timeval tv{kRequestTimeoutMs / 1000, 0};
    ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (connections_ >= kMaxConnections) {
        // (Over TLS the client sees its handshake fail.)
        if (tls_ == nullptr) {
          WriteAll(conn, Response("503 Service Unavailable", "text/plain; charset=utf-8",
                                  "too many connections\n", false, "retry-after: 1\r\n"));
        }
        ::close(conn);
        continue;
      }
      ++connections_;
    }
    std::thread([this, conn] {
      // OpenSSL writes with write(2): a peer gone mid-response must give EPIPE, not SIGPIPE.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      Serve(conn);
      ::close(conn);
      std::lock_guard<std::mutex> lock(mu_);
      if (--connections_ == 0) {
        idle_.notify_all();
      }
    }).detach();
  }
}

void MetricsHttpServer::Serve(int fd) {
  SSL* ssl = nullptr;
  if (tls_ != nullptr) {
    ssl = SSL_new(tls_->native_handle());
    if (ssl == nullptr) {
      return;
    }
    if (SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
      // A plaintext client, a bad handshake or the deadline: the connection just closes.
      SSL_free(ssl);
      return;
    }
  }
  Conn conn(fd, ssl);
  std::string data;
  char buf[4096];
  size_t head_end = std::string::npos;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos && data.size() < kMaxRequestHead) {
    const ssize_t n = conn.Read(buf, sizeof(buf));
    if (n <= 0) {
      break;
    }
    data.append(buf, static_cast<size_t>(n));
  }
  if (data.find("\r\n") == std::string::npos) {
    return;
  }
  HttpRequest req;
  if (route_ == nullptr || head_end == std::string::npos ||
      !ParseHead(std::string_view(data).substr(0, head_end + 2), &req)) {
    conn.Write(Respond(data, render_));
    conn.Finish();
    return;
  }
  uint64_t length = 0;
  if (const std::string_view cl = req.Header("content-length"); !cl.empty()) {
    if (!common::ParseUint(cl, &length) || length > kMaxRequestBody) {
      conn.Write(Response("413 Content Too Large", "text/plain; charset=utf-8",
                          "request body too large\n", false));
      conn.Finish();
      return;
    }
  }
  req.body = data.substr(head_end + 4);
  while (req.body.size() < length) {
    const ssize_t n = conn.Read(buf, sizeof(buf));
    if (n <= 0) {
      return;
    }
    req.body.append(buf, static_cast<size_t>(n));
  }
  req.body.resize(std::min<size_t>(req.body.size(), length));
  sockaddr_storage local{};
  sockaddr_storage peer{};
  socklen_t llen = sizeof(local);
  socklen_t plen = sizeof(peer);
  const bool addresses = ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0 &&
                         ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0;
  req.loopback = addresses && IsLoopbackAddress(local) && IsLoopbackAddress(peer);
  req.peer = addresses ? AddressText(peer) : std::string();
  req.tls = conn.tls();
  SocketResponder responder(&conn, &stopping_);
  if (!route_(req, responder)) {
    conn.Write(Respond(std::string_view(data).substr(0, head_end + 4), render_));
  }
  conn.Finish();
}

}  // namespace ccrelay::controlplane
