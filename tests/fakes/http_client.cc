#include "tests/fakes/http_client.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ccrelay::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::string BuildRequest(std::string_view method, std::string_view target, const Headers& headers,
                         std::string_view body) {
  std::string out;
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  if (!FindHeader(headers, "host").has_value()) {
    out += "host: 127.0.0.1\r\n";
  }
  for (const auto& [name, value] : headers) {
    out.append(name).append(": ").append(value).append("\r\n");
  }
  const bool framed = FindHeader(headers, "content-length").has_value() ||
                      FindHeader(headers, "transfer-encoding").has_value();
  if (!framed && (!body.empty() || method == "POST")) {
    out += "content-length: " + std::to_string(body.size()) + "\r\n";
  }
  out += "\r\n";
  out.append(body);
  return out;
}

std::unique_ptr<HttpConnection> HttpConnection::Connect(uint16_t port, std::string* error) {
  ::signal(SIGPIPE, SIG_IGN);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (error != nullptr) {
      *error = std::strerror(errno);
    }
    return nullptr;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (error != nullptr) {
      *error = std::strerror(errno);
    }
    ::close(fd);
    return nullptr;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return std::unique_ptr<HttpConnection>(new HttpConnection(fd));
}

HttpConnection::~HttpConnection() { Close(); }

bool HttpConnection::Send(std::string_view bytes) {
  if (fd_ < 0) {
    return false;
  }
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int HttpConnection::ReadMore(Clock::time_point deadline) {
  if (fd_ < 0) {
    return -1;
  }
  while (true) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      return -2;
    }
    pollfd pfd{};
    pfd.fd = fd_;
    pfd.events = POLLIN;
    const int p = ::poll(&pfd, 1, static_cast<int>(left));
    if (p < 0) {
      if (errno == EINTR) {
        continue;
      }
      return -1;
    }
    if (p == 0) {
      return -2;
    }
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      return -1;
    }
    buffer_.append(buf, static_cast<size_t>(n));
    return static_cast<int>(n);
  }
}

HttpResponse HttpConnection::ReadResponse(milliseconds timeout,
                                          const std::function<bool(std::string_view)>& on_body,
                                          bool head_request) {
  const auto deadline = Clock::now() + timeout;
  HttpResponse resp;
  auto fail = [&](const std::string& why, int rc) {
    resp.error = why + (rc == -2 ? " (timeout)" : rc == 0 ? " (eof)" : " (error)");
    return resp;
  };

  // Head.
  size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    const int rc = ReadMore(deadline);
    if (rc <= 0) {
      return fail("reading response head", rc);
    }
  }
  const std::string head = buffer_.substr(0, head_end);
  buffer_.erase(0, head_end + 4);
  size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) {
    resp.error = "bad status line: " + status_line;
    return resp;
  }
  resp.status = std::atoi(status_line.c_str() + 9);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string::npos) {
      end = head.size();
    }
    std::string_view line(head.data() + pos, end - pos);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      resp.headers.emplace_back(std::string(line.substr(0, colon)),
                                std::string(Trim(line.substr(colon + 1))));
    }
    pos = end + 2;
  }

  auto deliver = [&](std::string_view piece) {
    resp.body.append(piece);
    if (on_body) {
      return on_body(piece);
    }
    return true;
  };

  if (head_request || resp.status == 204 || resp.status == 304 ||
      (resp.status >= 100 && resp.status < 200)) {
    resp.complete = true;
    return resp;
  }
  const auto te = resp.Header("transfer-encoding");
  const auto cl = resp.Header("content-length");
  if (te.has_value() && Lower(*te).find("chunked") != std::string::npos) {
    resp.chunked = true;
    while (true) {
      size_t eol;
      while ((eol = buffer_.find("\r\n")) == std::string::npos) {
        const int rc = ReadMore(deadline);
        if (rc <= 0) {
          return fail("reading chunk size", rc);
        }
      }
      const size_t size = std::strtoul(buffer_.substr(0, eol).c_str(), nullptr, 16);
      buffer_.erase(0, eol + 2);
      if (size == 0) {
        // Trailers until an empty line.
        while (true) {
          while ((eol = buffer_.find("\r\n")) == std::string::npos) {
            const int rc = ReadMore(deadline);
            if (rc <= 0) {
              return fail("reading trailers", rc);
            }
          }
          const bool empty = eol == 0;
          buffer_.erase(0, eol + 2);
          if (empty) {
            break;
          }
        }
        resp.complete = true;
        return resp;
      }
      while (buffer_.size() < size + 2) {
        const int rc = ReadMore(deadline);
        if (rc <= 0) {
          return fail("reading chunk data", rc);
        }
      }
      const std::string piece = buffer_.substr(0, size);
      buffer_.erase(0, size + 2);
      if (!deliver(piece)) {
        return resp;
      }
    }
  }
  if (cl.has_value()) {
    size_t remaining = std::strtoull(cl->c_str(), nullptr, 10);
    while (remaining > 0) {
      if (buffer_.empty()) {
        const int rc = ReadMore(deadline);
        if (rc <= 0) {
          return fail("reading body", rc);
        }
      }
      const size_t take = std::min(remaining, buffer_.size());
      const std::string piece = buffer_.substr(0, take);
      buffer_.erase(0, take);
      remaining -= take;
      if (!deliver(piece)) {
        return resp;
      }
    }
    resp.complete = true;
    return resp;
  }
  // Delimited by close.
  while (true) {
    if (!buffer_.empty()) {
      const std::string piece = std::move(buffer_);
      buffer_.clear();
      if (!deliver(piece)) {
        return resp;
      }
    }
    const int rc = ReadMore(deadline);
    if (rc == 0) {
      resp.complete = true;
      return resp;
    }
    if (rc < 0) {
      return fail("reading close-delimited body", rc);
    }
  }
}

bool HttpConnection::WaitForClose(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const int rc = ReadMore(deadline);
    if (rc == 0 || rc == -1) {
      return true;
    }
    if (rc == -2) {
      return false;
    }
  }
}

void HttpConnection::Close() {
  if (fd_ >= 0) {
    ::shutdown(fd_, SHUT_WR);
    ::close(fd_);
    fd_ = -1;
  }
}

void HttpConnection::Reset() {
  if (fd_ >= 0) {
    struct linger lg;
    lg.l_onoff = 1;
    lg.l_linger = 0;
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    ::close(fd_);
    fd_ = -1;
  }
}

HttpResponse Fetch(uint16_t port, std::string_view method, std::string_view target,
                   const Headers& headers, std::string_view body, milliseconds timeout) {
  std::string error;
  auto conn = HttpConnection::Connect(port, &error);
  if (conn == nullptr) {
    HttpResponse resp;
    resp.error = "connect: " + error;
    return resp;
  }
  if (!conn->Send(BuildRequest(method, target, headers, body))) {
    HttpResponse resp;
    resp.error = "send failed";
    return resp;
  }
  return conn->ReadResponse(timeout, {}, method == "HEAD");
}

std::vector<std::string> SseSplitter::Feed(std::string_view data) {
  partial_.append(data);
  std::vector<std::string> events;
  size_t end;
  while ((end = partial_.find("\n\n")) != std::string::npos) {
    events.push_back(partial_.substr(0, end + 2));
    partial_.erase(0, end + 2);
  }
  return events;
}

std::string SseEventName(std::string_view event) {
  size_t pos = 0;
  while (pos < event.size()) {
    size_t end = event.find('\n', pos);
    if (end == std::string_view::npos) {
      end = event.size();
    }
    std::string_view line = event.substr(pos, end - pos);
    if (line.rfind("event:", 0) == 0) {
      return std::string(Trim(line.substr(6)));
    }
    pos = end + 1;
  }
  return "";
}

std::string SseEventData(std::string_view event) {
  std::string out;
  size_t pos = 0;
  bool first = true;
  while (pos < event.size()) {
    size_t end = event.find('\n', pos);
    if (end == std::string_view::npos) {
      end = event.size();
    }
    std::string_view line = event.substr(pos, end - pos);
    if (line.rfind("data:", 0) == 0) {
      if (!first) {
        out += "\n";
      }
      first = false;
      std::string_view value = line.substr(5);
      if (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
      out.append(value);
    }
    pos = end + 1;
  }
  return out;
}

}  // namespace ccrelay::testing
