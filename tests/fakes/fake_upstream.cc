#include "tests/fakes/fake_upstream.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <future>
#include <list>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>

namespace ccrelay::testing {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 529:
      return "Site Overloaded";
    default:
      return "Status";
  }
}

// Socket state shared between a session thread and FakeUpstream::Stop (which shuts the socket
// down to wake a blocked read). The fd is only closed under the lock.
struct SessionControl {
  std::mutex mu;
  int fd = -1;  // -1 once closed
  std::atomic<bool> stopping{false};

  void ShutdownForStop() {
    stopping = true;
    std::lock_guard<std::mutex> lock(mu);
    if (fd >= 0) {
      ::shutdown(fd, SHUT_RDWR);
    }
  }
};

template <class Stream>
class Session final : public Responder {
 public:
  Session(FakeUpstream& owner, Stream stream, std::shared_ptr<SessionControl> control, int id)
      : owner_(owner), stream_(std::move(stream)), control_(std::move(control)), id_(id) {}

  void Run(bool tls) {
    beast::error_code ec;
    if (tls) {
      Handshake(ec);
      if (ec) {
        EndConnection(false);
        return;
      }
    }
    bool closed_by_peer = false;
    while (!closed_ && !control_->stopping) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(std::uint64_t{256} << 20);
      parser.header_limit(1u << 20);
      http::read(stream_, buffer_, parser, ec);
      if (ec) {
        closed_by_peer = !control_->stopping;
        break;
      }
      const auto& msg = parser.get();
      RecordedRequest request;
      request.method = std::string(msg.method_string());
      request.target = std::string(msg.target());
      for (const auto& field : msg) {
        request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      request.body = msg.body();
      request.connection_id = id_;
      const bool keep_alive = msg.keep_alive();
      const int index = owner_.RecordRequest(request);
      request.index = index;

      head_sent_ = false;
      chunked_ = false;
      finished_ = false;
      Handler handler = owner_.NextHandler();
      if (handler) {
        handler(request, *this);
      }
      if (!closed_ && !head_sent_ && !peer_closed_) {
        Respond(500, {{"content-type", "text/plain"}}, "fake upstream: script sent nothing");
      }
      if (!closed_ && head_sent_ && chunked_ && !finished_ && !peer_closed_) {
        Finish();
      }
      ExchangeOutcome outcome;
      outcome.script_finished = true;
      outcome.response_complete = finished_;
      outcome.peer_closed_early = peer_closed_;
      owner_.RecordOutcome(index, outcome);
      if (peer_closed_) {
        closed_by_peer = true;
        break;
      }
      if (!keep_alive) {
        Close();
      }
    }
    EndConnection(closed_by_peer);
  }

  // Responder
  bool SendHead(int status, const Headers& headers, std::optional<size_t> content_length) override {
    const std::string head = HeadBytes(status, headers, content_length);
    head_sent_ = true;
    finished_ = false;
    return Write(head);
  }

  bool SendBody(std::string_view data) override {
    if (!chunked_) {
      return Write(data);
    }
    if (data.empty()) {
      return !peer_closed_;
    }
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
    std::string chunk = size;
    chunk.append(data);
    chunk += "\r\n";
    return Write(chunk);
  }

  bool Finish() override {
    bool ok = true;
    if (chunked_) {
      ok = Write("0\r\n\r\n");
    }
    finished_ = ok;
    return ok;
  }

  bool Respond(int status, const Headers& headers, std::string_view body) override {
    std::string head = HeadBytes(status, headers, body.size());
    head.append(body);  // one write: no Nagle / delayed-ACK stall between head and body
    head_sent_ = true;
    finished_ = Write(head);
    return finished_;
  }

  bool SendRaw(std::string_view bytes) override { return Write(bytes); }

  bool Delay(milliseconds delay) override { return !WaitForPeerClose(delay); }

  bool WaitFor(const Notification& gate, milliseconds timeout) override {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      if (gate.WaitFor(milliseconds(5))) {
        return true;
      }
      if (PollPeerClosed(0) || control_->stopping) {
        return false;
      }
      if (Clock::now() >= deadline) {
        return false;
      }
    }
  }

  bool WaitForPeerClose(milliseconds timeout) override {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (PollPeerClosed(static_cast<int>(std::clamp<int64_t>(left.count(), 0, 50)))) {
        return true;
      }
      if (control_->stopping) {
        return true;
      }
      if (Clock::now() >= deadline) {
        return false;
      }
    }
  }

  bool peer_closed() const override { return peer_closed_; }

  void CloseAbruptly() override {
    std::lock_guard<std::mutex> lock(control_->mu);
    if (control_->fd >= 0) {
      struct linger lg;
      lg.l_onoff = 1;
      lg.l_linger = 0;
      ::setsockopt(control_->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
      beast::error_code ec;
      beast::get_lowest_layer(stream_).close(ec);
      control_->fd = -1;
    }
    closed_ = true;
  }

  void Close() override {
    std::lock_guard<std::mutex> lock(control_->mu);
    if (control_->fd >= 0) {
      beast::error_code ec;
      beast::get_lowest_layer(stream_).shutdown(tcp::socket::shutdown_send, ec);
      beast::get_lowest_layer(stream_).close(ec);
      control_->fd = -1;
    }
    closed_ = true;
  }

 private:
  void Handshake(beast::error_code& ec);

  std::string HeadBytes(int status, const Headers& headers, std::optional<size_t> content_length) {
    std::string head =
        "HTTP/1.1 " + std::to_string(status) + " " + std::string(Reason(status)) + "\r\n";
    for (const auto& [name, value] : headers) {
      head.append(name).append(": ").append(value).append("\r\n");
    }
    if (content_length.has_value()) {
      head += "content-length: " + std::to_string(*content_length) + "\r\n";
      chunked_ = false;
    } else {
      head += "transfer-encoding: chunked\r\n";
      chunked_ = true;
    }
    head += "\r\n";
    return head;
  }

  bool Write(std::string_view data) {
    if (closed_ || peer_closed_) {
      return false;
    }
    beast::error_code ec;
    net::write(stream_, net::buffer(data.data(), data.size()), ec);
    if (ec) {
      peer_closed_ = true;
      return false;
    }
    return true;
  }

  // True once the peer has closed (FIN or RST); waits up to timeout_ms for it.
  bool PollPeerClosed(int timeout_ms) {
    if (peer_closed_) {
      return true;
    }
    if (closed_) {
      return false;
    }
    pollfd pfd{};
    pfd.fd = beast::get_lowest_layer(stream_).native_handle();
    pfd.events = POLLRDHUP;
    const int n = ::poll(&pfd, 1, timeout_ms);
    if (n > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      peer_closed_ = true;
    }
    return peer_closed_;
  }

  void EndConnection(bool closed_by_peer) {
    {
      std::lock_guard<std::mutex> lock(control_->mu);
      if (control_->fd >= 0) {
        beast::error_code ec;
        beast::get_lowest_layer(stream_).close(ec);
        control_->fd = -1;
      }
    }
    owner_.RecordConnectionEnd(closed_by_peer);
  }

  FakeUpstream& owner_;
  Stream stream_;
  std::shared_ptr<SessionControl> control_;
  int id_;
  beast::flat_buffer buffer_;
  bool head_sent_ = false;
  bool chunked_ = false;
  bool finished_ = false;
  bool closed_ = false;
  bool peer_closed_ = false;
};

template <>
void Session<tcp::socket>::Handshake(beast::error_code& ec) {
  ec = {};
}

template <>
void Session<ssl::stream<tcp::socket>>::Handshake(beast::error_code& ec) {
  stream_.handshake(ssl::stream_base::server, ec);
}

}  // namespace

struct FakeUpstream::Impl {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::optional<ssl::context> ssl_ctx;
  std::thread io_thread;
  std::mutex sessions_mu;
  std::list<std::shared_ptr<SessionControl>> sessions;
  std::vector<std::thread> threads;
  bool stopped = false;
  int next_id = 0;

  void Accept(FakeUpstream* owner) {
    acceptor.async_accept([this, owner](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        return;  // closed (StopListening / Stop)
      }
      OnAccept(owner, std::move(socket));
      Accept(owner);
    });
  }

  void OnAccept(FakeUpstream* owner, tcp::socket socket) {
    {
      std::lock_guard<std::mutex> lock(owner->mu_);
      ++owner->connections_accepted_;
      ++owner->version_;
    }
    owner->cv_.notify_all();
    if (owner->drop_connections()) {
      beast::error_code ec;
      socket.set_option(net::socket_base::linger(true, 0), ec);
      socket.close(ec);
      owner->RecordConnectionEnd(false);
      return;
    }
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    auto control = std::make_shared<SessionControl>();
    control->fd = socket.native_handle();
    std::lock_guard<std::mutex> lock(sessions_mu);
    if (stopped) {
      return;
    }
    sessions.push_back(control);
    const int id = ++next_id;
    if (ssl_ctx.has_value()) {
      threads.emplace_back(
          [owner, control, id](ssl::stream<tcp::socket> stream) {
            Session<ssl::stream<tcp::socket>> session(*owner, std::move(stream), control, id);
            session.Run(true);
          },
          ssl::stream<tcp::socket>(std::move(socket), *ssl_ctx));
    } else {
      threads.emplace_back(
          [owner, control, id](tcp::socket s) {
            Session<tcp::socket> session(*owner, std::move(s), control, id);
            session.Run(false);
          },
          std::move(socket));
    }
  }
};

FakeUpstream::FakeUpstream() : FakeUpstream(Options{}) {}

FakeUpstream::FakeUpstream(const Options& options) : impl_(std::make_unique<Impl>()) {
  ::signal(SIGPIPE, SIG_IGN);
  tls_ = options.tls;
  default_handler_ = MessageScript();
  if (options.tls) {
    impl_->ssl_ctx.emplace(ssl::context::tls_server);
    impl_->ssl_ctx->use_certificate_chain_file(options.cert_file);
    impl_->ssl_ctx->use_private_key_file(options.key_file, ssl::context::pem);
  }
  tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(net::socket_base::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen(net::socket_base::max_listen_connections);
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->Accept(this);
  impl_->io_thread = std::thread([this] { impl_->ioc.run(); });
}

FakeUpstream::~FakeUpstream() { Stop(); }

std::string FakeUpstream::base_url() const {
  if (tls_) {
    return "https://localhost:" + std::to_string(port_);
  }
  return "http://127.0.0.1:" + std::to_string(port_);
}

void FakeUpstream::SetHandler(Handler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  default_handler_ = std::move(handler);
}

void FakeUpstream::EnqueueHandler(Handler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(handler));
}

void FakeUpstream::SetDropConnections(bool drop) {
  std::lock_guard<std::mutex> lock(mu_);
  drop_connections_ = drop;
}

bool FakeUpstream::drop_connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return drop_connections_;
}

void FakeUpstream::StopListening() {
  std::promise<void> done;
  net::post(impl_->ioc, [this, &done] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
    done.set_value();
  });
  if (impl_->io_thread.joinable()) {
    done.get_future().wait();
  }
}

void FakeUpstream::Stop() {
  if (impl_ == nullptr) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(impl_->sessions_mu);
    if (impl_->stopped) {
      return;
    }
  }
  impl_->ioc.stop();
  if (impl_->io_thread.joinable()) {
    impl_->io_thread.join();
  }
  beast::error_code ec;
  impl_->acceptor.close(ec);
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(impl_->sessions_mu);
    impl_->stopped = true;
    for (auto& control : impl_->sessions) {
      control->ShutdownForStop();
    }
    threads.swap(impl_->threads);
  }
  for (auto& thread : threads) {
    thread.join();
  }
}

std::vector<RecordedRequest> FakeUpstream::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t FakeUpstream::request_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

std::vector<ExchangeOutcome> FakeUpstream::outcomes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outcomes_;
}

int FakeUpstream::connections_accepted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_accepted_;
}

int FakeUpstream::connections_closed_by_peer() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_closed_by_peer_;
}

bool FakeUpstream::WaitFor(const std::function<bool()>& pred, milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen = version_;
    }
    if (pred()) {
      return true;
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_until(lock, deadline, [&] { return version_ != seen; })) {
      lock.unlock();
      return pred();
    }
  }
}

bool FakeUpstream::WaitForRequests(size_t n, milliseconds timeout) const {
  return WaitFor([&] { return request_count() >= n; }, timeout);
}

bool FakeUpstream::WaitForOutcome(size_t index, milliseconds timeout) const {
  return WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu_);
        return index < outcomes_.size() && outcomes_[index].script_finished;
      },
      timeout);
}

int FakeUpstream::RecordRequest(RecordedRequest request) {
  int index;
  {
    std::lock_guard<std::mutex> lock(mu_);
    index = static_cast<int>(requests_.size());
    request.index = index;
    requests_.push_back(std::move(request));
    outcomes_.emplace_back();
    ++version_;
  }
  cv_.notify_all();
  return index;
}

void FakeUpstream::RecordOutcome(int index, ExchangeOutcome outcome) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    outcomes_[static_cast<size_t>(index)] = outcome;
    ++version_;
  }
  cv_.notify_all();
}

void FakeUpstream::RecordConnectionEnd(bool closed_by_peer) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_by_peer) {
      ++connections_closed_by_peer_;
    }
    ++version_;
  }
  cv_.notify_all();
}

Handler FakeUpstream::NextHandler() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!queue_.empty()) {
    Handler handler = std::move(queue_.front());
    queue_.pop_front();
    return handler;
  }
  return default_handler_;
}

uint16_t UnusedPort() {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

std::optional<std::string> FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) {
      return value;
    }
  }
  return std::nullopt;
}

size_t CountHeader(const Headers& headers, std::string_view name) {
  return static_cast<size_t>(std::count_if(headers.begin(), headers.end(), [&](const auto& h) {
    return EqualsIgnoreCase(h.first, name);
  }));
}

// ---- Canned answers ----------------------------------------------------------------------

Headers AnthropicResponseHeaders(std::string_view request_id) {
  return {
      {"request-id", std::string(request_id)},
      {"anthropic-ratelimit-requests-limit", "50"},
      {"anthropic-ratelimit-requests-remaining", "49"},
      {"anthropic-ratelimit-requests-reset", "2030-01-01T00:00:00Z"},
      {"anthropic-ratelimit-tokens-limit", "100000"},
      {"anthropic-ratelimit-tokens-remaining", "99000"},
      {"anthropic-organization-id", "org-fake"},
  };
}

std::string AnthropicMessageJson(std::string_view model, std::string_view text,
                                 std::string_view id) {
  nlohmann::ordered_json msg = {
      {"id", id},
      {"type", "message"},
      {"role", "assistant"},
      {"model", model},
      {"content", nlohmann::ordered_json::array({{{"type", "text"}, {"text", text}}})},
      {"stop_reason", "end_turn"},
      {"stop_sequence", nullptr},
      {"usage",
       {{"input_tokens", 25},
        {"output_tokens", 15},
        {"cache_creation_input_tokens", 0},
        {"cache_read_input_tokens", 0}}},
  };
  return msg.dump();
}

std::string AnthropicErrorJson(std::string_view type, std::string_view message,
                               std::string_view request_id) {
  nlohmann::ordered_json err = {
      {"type", "error"},
      {"error", {{"type", type}, {"message", message}}},
      {"request_id", request_id},
  };
  return err.dump();
}

std::vector<std::string> AnthropicSseEvents(const SseOptions& options) {
  std::vector<std::string> events;
  auto add = [&](std::string_view name, const nlohmann::ordered_json& data) {
    events.push_back("event: " + std::string(name) + "\ndata: " + data.dump() + "\n\n");
  };
  add("message_start", {{"type", "message_start"},
                        {"message",
                         {{"id", "msg_fake_stream"},
                          {"type", "message"},
                          {"role", "assistant"},
                          {"content", nlohmann::ordered_json::array()},
                          {"model", options.model},
                          {"stop_reason", nullptr},
                          {"stop_sequence", nullptr},
                          {"usage",
                           {{"input_tokens", options.input_tokens},
                            {"output_tokens", 1},
                            {"cache_creation_input_tokens", 0},
                            {"cache_read_input_tokens", 0}}}}}});
  int index = 0;
  if (options.thinking) {
    add("content_block_start", {{"type", "content_block_start"},
                                {"index", index},
                                {"content_block", {{"type", "thinking"}, {"thinking", ""}}}});
    add("content_block_delta",
        {{"type", "content_block_delta"},
         {"index", index},
         {"delta", {{"type", "thinking_delta"}, {"thinking", "Let me think."}}}});
    add("content_block_delta",
        {{"type", "content_block_delta"},
         {"index", index},
         {"delta", {{"type", "signature_delta"}, {"signature", "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}}}});
    add("content_block_stop", {{"type", "content_block_stop"}, {"index", index}});
    ++index;
  }
  add("content_block_start", {{"type", "content_block_start"},
                              {"index", index},
                              {"content_block", {{"type", "text"}, {"text", ""}}}});
  add("ping", {{"type", "ping"}});
  for (int i = 0; i < options.text_deltas; ++i) {
    add("content_block_delta",
        {{"type", "content_block_delta"},
         {"index", index},
         {"delta", {{"type", "text_delta"}, {"text", "word" + std::to_string(i) + " "}}}});
  }
  add("content_block_stop", {{"type", "content_block_stop"}, {"index", index}});
  add("message_delta", {{"type", "message_delta"},
                        {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                        {"usage", {{"output_tokens", options.output_tokens}}}});
  add("message_stop", {{"type", "message_stop"}});
  return events;
}

// ---- Scripts ------------------------------------------------------------------------------

Handler MessageScript(std::string_view model, std::string_view text) {
  return [body = AnthropicMessageJson(model, text)](const RecordedRequest&, Responder& r) {
    Headers headers = AnthropicResponseHeaders("req_fake_ok");
    headers.emplace_back("content-type", "application/json");
    r.Respond(200, headers, body);
  };
}

Handler JsonScript(int status, std::string body, Headers extra_headers) {
  return [status, body = std::move(body), extra = std::move(extra_headers)](const RecordedRequest&,
                                                                            Responder& r) {
    Headers headers = extra;
    if (!FindHeader(headers, "content-type").has_value()) {
      headers.emplace_back("content-type", "application/json");
    }
    r.Respond(status, headers, body);
  };
}

Handler RateLimitedScript(int retry_after_seconds) {
  return JsonScript(
      429, AnthropicErrorJson("rate_limit_error", "Number of requests exceeded", "req_fake_429"),
      {{"retry-after", std::to_string(retry_after_seconds)}, {"request-id", "req_fake_429"}});
}

Handler OverloadedScript() {
  return JsonScript(529, AnthropicErrorJson("overloaded_error", "Overloaded", "req_fake_529"),
                    {{"request-id", "req_fake_529"}});
}

Handler InternalErrorScript() {
  return JsonScript(500, AnthropicErrorJson("api_error", "Internal server error", "req_fake_500"),
                    {{"request-id", "req_fake_500"}});
}

Handler ResetScript() {
  return [](const RecordedRequest&, Responder& r) { r.CloseAbruptly(); };
}

Handler StreamScript(StreamScriptOptions options) {
  if (options.events.empty()) {
    options.events = AnthropicSseEvents(SseOptions{});
  }
  return [options = std::move(options)](const RecordedRequest&, Responder& r) {
    Headers headers = AnthropicResponseHeaders("req_fake_stream");
    headers.emplace_back("content-type", "text/event-stream");
    headers.emplace_back("cache-control", "no-cache");
    if (!r.SendHead(200, headers, std::nullopt)) {
      return;
    }
    auto die = [&] {
      if (options.die_with_fin) {
        r.Close();
      } else {
        r.CloseAbruptly();
      }
    };
    for (size_t i = 0; i < options.events.size(); ++i) {
      if (options.gate != nullptr && i == options.gate_after) {
        const bool released = r.WaitFor(*options.gate, options.gate_timeout);
        if (options.gate_released) {
          *options.gate_released = released;
        }
        if (options.hold_open_until_peer_close) {
          r.WaitForPeerClose(options.hold_timeout);
          return;
        }
        if (r.peer_closed()) {
          return;
        }
      }
      if (options.die_after.has_value() && i == *options.die_after) {
        die();
        return;
      }
      if (i > 0 && options.delay.count() > 0 && !r.Delay(options.delay)) {
        return;
      }
      if (!r.SendBody(options.events[i])) {
        return;
      }
    }
    if (options.die_after.has_value() && *options.die_after >= options.events.size()) {
      die();
      return;
    }
    if (options.hold_open_until_peer_close) {
      r.WaitForPeerClose(options.hold_timeout);
      return;
    }
    r.Finish();
  };
}

}  // namespace ccrelay::testing
