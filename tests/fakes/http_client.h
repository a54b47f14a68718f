#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fakes/fake_upstream.h"

namespace ccrelay::testing {

// One HTTP/1.1 response as a client saw it.
struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;  // de-chunked
  bool chunked = false;
  bool complete = false;  // the framing ended properly (length reached / last chunk / EOF)
  std::string error;      // set on timeout, I/O or parse failure

  std::optional<std::string> Header(std::string_view name) const {
    return FindHeader(headers, name);
  }
};

// Raw request bytes. Adds `host` (unless given) and `content-length` (when body is non-empty or
// the method is POST, unless a content-length or transfer-encoding header is given).
std::string BuildRequest(std::string_view method, std::string_view target, const Headers& headers,
                         std::string_view body);

// A blocking HTTP/1.1 client connection on raw sockets (every wait has a deadline), so a test
// controls exactly which bytes go out and when: slow headers, early close, reset.
class HttpConnection {
 public:
  // To 127.0.0.1:port; nullptr (and *error) on failure.
  static std::unique_ptr<HttpConnection> Connect(uint16_t port, std::string* error = nullptr);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool Send(std::string_view bytes);
  // Reads one response. `on_body` gets each decoded body piece as it arrives; returning false
  // stops reading (the response is then returned incomplete). `head_request`: no body expected.
  HttpResponse ReadResponse(std::chrono::milliseconds timeout,
                            const std::function<bool(std::string_view)>& on_body = {},
                            bool head_request = false);
  // True if the peer closes (EOF or reset) within the timeout; bytes read meanwhile are kept in
  // pending_bytes().
  bool WaitForClose(std::chrono::milliseconds timeout);
  const std::string& pending_bytes() const { return buffer_; }

  void Close();  // FIN + close
  void Reset();  // RST (SO_LINGER 0) + close

 private:
  explicit HttpConnection(int fd) : fd_(fd) {}
  // Appends to buffer_; >0 bytes read, 0 EOF, -1 error, -2 timeout.
  int ReadMore(std::chrono::steady_clock::time_point deadline);

  int fd_;
  std::string buffer_;
};

// Connect, send one request, read the response, close.
HttpResponse Fetch(uint16_t port, std::string_view method, std::string_view target,
                   const Headers& headers = {}, std::string_view body = {},
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

// Splits an SSE byte stream into events at blank lines ("\n\n").
class SseSplitter {
 public:
  // Returns the events completed by `data`.
  std::vector<std::string> Feed(std::string_view data);
  const std::string& partial() const { return partial_; }

 private:
  std::string partial_;
};

// The value of the `event:` line of one SSE event ("" if none).
std::string SseEventName(std::string_view event);
// The `data:` payload of one SSE event (data lines joined with "\n").
std::string SseEventData(std::string_view event);

}  // namespace ccrelay::testing
