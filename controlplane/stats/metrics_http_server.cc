#include "controlplane/stats/metrics_http_server.h"

#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane/common/str.h"
#include "dataplane/stats/prometheus_text.h"

namespace ccrelay::controlplane {
namespace {

using common::StrCat;

constexpr size_t kMaxRequestHead = 16 * 1024;
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

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, RenderFn render_metrics) {
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
  server->render_ = std::move(render_metrics);
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
  if (thread_.joinable()) {
    const char b = 'x';
    (void)!::write(stop_pipe_[1], &b, 1);
    thread_.join();
  }
  for (int fd : {listen_fd_, stop_pipe_[0], stop_pipe_[1]}) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

std::string MetricsHttpServer::Respond(std::string_view request_head,
                                       const RenderFn& render_metrics) {
  const size_t line_end = request_head.find("\r\n");
  const std::string_view line = request_head.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) {
    return Response("400 Bad Request", "text/plain; charset=utf-8", "bad request\n", false);
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (const size_t q = target.find('?'); q != std::string_view::npos) {
    target = target.substr(0, q);
  }
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
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < kMaxRequestHead) {
      const ssize_t n = ::recv(conn, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        break;
      }
      head.append(buf, static_cast<size_t>(n));
    }
    if (head.find("\r\n") != std::string::npos) {
      WriteAll(conn, Respond(head, render_));
    }
    ::close(conn);
  }
}

}  // namespace ccrelay::controlplane
