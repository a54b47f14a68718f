#include "dataplane/server/downstream_session.h"

#include <random>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include "dataplane/common/log.h"
#include "dataplane/common/recycling_allocator.h"
#include "dataplane/common/str.h"
#include "dataplane/http/anthropic_error.h"
#include "dataplane/server/local_endpoints.h"
#include "dataplane/server/worker.h"
#include "dataplane/team/budget_gate.h"
#include "dataplane/team/relay_auth.h"

namespace ccrelay::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

DownstreamSession::DownstreamSession(asio::ip::tcp::socket&& socket, Worker& worker, uint64_t id,
                                     bool metrics_only)
    : socket_(std::move(socket)),
      worker_(worker),
      metrics_only_(metrics_only),
      conn_id_(common::StrCat("C", id)),
      deadline_(worker.ioc().get_executor(), *this, &DownstreamSession::OnDeadline) {
  worker_.Register(this);
  worker_.active_sessions().fetch_add(1, std::memory_order_relaxed);
}

DownstreamSession::~DownstreamSession() {
  if (exchange_) {
    exchange_->OnClientGone();
  }
  parser_.reset();
  if (field_arena_ != nullptr) {
    field_arena_->Release();
  }
  worker_.GiveReadBuffer(std::move(buffer_));
  worker_.Unregister(this);
  worker_.active_sessions().fetch_sub(1, std::memory_order_relaxed);
}

void DownstreamSession::Start() {
  error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  StartRead();
}

void DownstreamSession::Abort() {
  AbandonExchange();
  Close();
}

void DownstreamSession::Drain() {
  draining_ = true;
  if (!in_exchange_) {
    Close();
  }
}

void DownstreamSession::NewRequestId() {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string& id = request_id_;  // written over: its capacity is kept from request to request
  id.assign("req_ccr_");
  uint64_t a = rng();
  uint64_t b = rng();
  for (int i = 0; i < 20; ++i) {
    uint64_t& src = i < 10 ? a : b;
    id.push_back(kAlphabet[src % 62]);
    src /= 62;
  }
}

void DownstreamSession::StartRead() {
  if (closed_) {
    return;
  }
  if (buffer_.size() > 0) {
    ReadHeader();
    return;
  }
  table_ = worker_.table();
  ArmDeadline(requests_ == 0 ? table_->timeouts.request_header : table_->timeouts.keepalive);
  ReadSome();
}

void DownstreamSession::ReadSome() {
  EnsureReadBuffer();
  reading_ = true;
  socket_.async_read_some(
      buffer_.prepare(buffer_.capacity() - buffer_.size()),
      beast::bind_front_handler(&DownstreamSession::OnReadSome, shared_from_this()));
}

void DownstreamSession::EnsureReadBuffer() {
  if (buffer_.capacity() >= Worker::kReadBufferBytes) {
    return;
  }
  beast::flat_buffer pooled = worker_.TakeReadBuffer();
  const size_t n = buffer_.size();
  pooled.commit(asio::buffer_copy(pooled.prepare(n), buffer_.data()));
  buffer_ = std::move(pooled);
}

void DownstreamSession::ReleaseReadBuffer() {
  worker_.GiveReadBuffer(std::move(buffer_));
  buffer_ = beast::flat_buffer();
}

void DownstreamSession::OnWatch(const error_code& ec) {
  reading_ = false;
  if (ec) {
    AbandonExchange();
    Close();
    return;
  }
  if (closed_) {
    return;
  }
  if (in_exchange_) {
    // Bytes or EOF while the answer runs: a read tells which (EOF or an error cancels it).
    ReadSome();
    return;
  }
  ReadHeader();  // the next request has come
}

void DownstreamSession::OnReadSome(const error_code& ec, size_t n) {
  reading_ = false;
  if (ec) {
    AbandonExchange();
    Close();
    return;
  }
  buffer_.commit(n);
  if (in_exchange_) {
    return;  // pipelined bytes: parsed once the current response is done
  }
  ReadHeader();
}

void DownstreamSession::ReadHeader() {
  if (closed_) {
    return;
  }
  table_ = worker_.table();
  request_start_ = std::chrono::steady_clock::now();
  RecycleBody();
  // Room for a whole request head and a small body in one read: Beast sizes each read by the
  // buffer's free capacity (at least 512 bytes).
  EnsureReadBuffer();
  parser_.reset();  // the last request's fields go first: the arena starts over
  if (field_arena_ == nullptr) {
    field_arena_ = http::FieldArena::New();
  }
  parser_.emplace(std::piecewise_construct, std::make_tuple(),
                  std::make_tuple(http::ArenaAllocator<char>(field_arena_)));
  parser_->get().body() = worker_.context().body_pool.Acquire();
  parser_->header_limit(table_->max_header_bytes);
  parser_->body_limit(table_->max_body_bytes);
  ArmDeadline(table_->timeouts.request_header);
  bhttp::async_read_header(socket_, buffer_, *parser_,
                           beast::bind_front_handler(&DownstreamSession::OnHeader,
                                                     shared_from_this()));
}

void DownstreamSession::OnHeader(const error_code& ec, size_t /*n*/) {
  if (closed_) {
    return;
  }
  NewRequestId();
  if (ec) {
    if (ec == bhttp::error::header_limit) {
      WriteError(431, "request headers are too large", true);
    } else if (ec == bhttp::error::body_limit) {
      // Beast checks Content-Length against the body limit while parsing the headers.
      WriteError(413,
                 common::StrCat("request body exceeds the limit of ", table_->max_body_bytes,
                                " bytes"),
                 true);
    } else if (timed_out_) {
      WriteError(408, "timed out reading the request headers", true);
    } else if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
               ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      Close();
    } else {
      WriteError(400, common::StrCat("malformed HTTP request: ", ec.message()), true);
    }
    return;
  }
  ++requests_;
  auto& req = parser_->get();
  if (req.has_content_length()) {
    const auto len = parser_->content_length();
    if (len && *len > table_->max_body_bytes) {
      WriteError(413,
                 common::StrCat("request body of ", *len, " bytes exceeds the limit of ",
                              table_->max_body_bytes, " bytes"),
                 true);
      return;
    }
    if (len) {
      req.body().Reserve(*len);  // with room for the scan's padding: no copy later
    }
  }
  auto expect = req.find(bhttp::field::expect);
  if (expect != req.end() && common::EqualsIgnoreCase(expect->value(), "100-continue") &&
      !parser_->is_done()) {
    out_ = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(socket_, asio::buffer(out_),
                      beast::bind_front_handler(&DownstreamSession::OnContinueWritten,
                                                shared_from_this()));
    return;
  }
  ReadBody();
}

void DownstreamSession::OnContinueWritten(const error_code& ec, size_t /*n*/) {
  if (ec) {
    Close();
    return;
  }
  ReadBody();
}

void DownstreamSession::ReadBody() {
  if (parser_->is_done()) {
    DisarmDeadline();
    Dispatch();
    return;
  }
  const auto length = parser_->content_length();
  if (!length.has_value() || parser_->chunked()) {
    ArmDeadline(table_->timeouts.request_body);
    bhttp::async_read(socket_, buffer_, *parser_,
                      beast::bind_front_handler(&DownstreamSession::OnBody, shared_from_this()));
    return;
  }
  // Content-Length (checked against max_body_bytes with the headers): the bytes already read
  // past the headers, then the rest straight from the socket into the body (its capacity was
  // reserved with room for the scan's padding, and is not zero-filled).
  http::BodyBuffer& body = parser_->get().body();
  const size_t total = static_cast<size_t>(*length);
  const size_t have = std::min(buffer_.size(), total);
  body.ResizeUninitialized(total);
  asio::buffer_copy(asio::buffer(body.data(), have), buffer_.data(), have);
  buffer_.consume(have);
  if (have == total) {  // the whole body came with the head (a small request): no read, no post
    DisarmDeadline();
    Dispatch();
    return;
  }
  ArmDeadline(table_->timeouts.request_body);
  asio::async_read(socket_, asio::buffer(body.data() + have, total - have),
                   beast::bind_front_handler(&DownstreamSession::OnBodyDirect,
                                             shared_from_this()));
}

void DownstreamSession::OnBodyDirect(const error_code& ec, size_t /*n*/) {
  if (closed_) {
    return;
  }
  if (ec) {
    if (timed_out_) {
      WriteError(408, "timed out reading the request body", true);
    } else {
      Close();  // the client went away before sending the whole body
    }
    return;
  }
  DisarmDeadline();
  Dispatch();
}

void DownstreamSession::OnBody(const error_code& ec, size_t /*n*/) {
  if (closed_) {
    return;
  }
  if (ec) {
    if (ec == bhttp::error::body_limit) {
      WriteError(413,
                 common::StrCat("request body exceeds the limit of ", table_->max_body_bytes,
                              " bytes"),
                 true);
    } else if (timed_out_) {
      WriteError(408, "timed out reading the request body", true);
    } else if (ec == bhttp::error::partial_message || ec == asio::error::eof ||
               ec == asio::error::connection_reset) {
      Close();
    } else {
      WriteError(400, common::StrCat("malformed HTTP request body: ", ec.message()), true);
    }
    return;
  }
  DisarmDeadline();
  Dispatch();
}

void DownstreamSession::Dispatch() {
  auto& req = parser_->get();
  const std::string_view target = req.target();
  const size_t q = target.find('?');
  LocalRequest local;
  local.method = req.method();
  local.method_string = req.method_string();
  local.path = target.substr(0, q);
  local.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  local.table = table_.get();
  local.metrics = worker_.metrics();
  local.open_connections = worker_.active_sessions().load(std::memory_order_relaxed);
  local.metrics_only = metrics_only_;
  LocalAnswer answer;
  if (AnswerLocally(local, &answer)) {
    if (answer.error) {
      WriteError(answer.status, answer.body, false, answer.extra_headers);
    } else {
      WriteResponse(answer.status, answer.content_type, answer.body, answer.extra_headers);
    }
    return;
  }
  StartExchange(local.path);
}

void DownstreamSession::StartExchange(std::string_view path) {
  auto& req = parser_->get();
  if (req.method() != bhttp::verb::post) {
    WriteError(405, common::StrCat("method ", std::string_view(req.method_string()),
                                   " is not allowed on ", path),
               false, "allow: POST\r\n");
    return;
  }
  if (table_->providers.empty()) {
    WriteError(503, "the relay has not received a routing snapshot from its control plane yet");
    return;
  }
  auto x_api_key = req.find("x-api-key");
  auto authorization = req.find(bhttp::field::authorization);
  const std::string_view x_api_key_value =
      x_api_key == req.end() ? std::string_view() : std::string_view(x_api_key->value());
  const std::string_view authorization_value =
      authorization == req.end() ? std::string_view() : std::string_view(authorization->value());
  // Relay keys (teams) first: a valid one is the credential, one that matches no user is refused
  // (with or without users); without a key where none is required, server.auth decides.
  const routing::CompiledUser* user = nullptr;
  auth::AuthResult auth;
  {
    auto key_header = req.find(table_->users.key_header);
    const team::RelayKeyAuth relay = team::AuthenticateRelayKey(
        table_->users,
        key_header == req.end() ? std::string_view() : std::string_view(key_header->value()),
        x_api_key_value, authorization_value);
    if (relay.result == team::RelayKeyAuth::Result::kRefused) {
      CCR_LOG(kInfo, "auth_failed", common::F("request_id", request_id_),
              common::F("conn", conn_id_), common::Q("reason", relay.message),
              common::F("user", relay.user != nullptr ? std::string_view(relay.user->name)
                                                      : std::string_view("-")));
      if (relay.user != nullptr && worker_.context().observer != nullptr) {
        worker_.context().observer->OnUserRefused(relay.user->name, "disabled");
      }
      refused_user_ = relay.user;
      WriteError(401, relay.message, false, team::kNoRetryHeader);
      refused_user_ = nullptr;
      return;
    }
    if (relay.result == team::RelayKeyAuth::Result::kOk) {
      user = relay.user;
      auth.ok = true;
      auth.method = relay.method;
    }
  }
  if (user == nullptr) {
    auth = auth::Authenticate(table_->auth, x_api_key_value, authorization_value);
  }
  if (!auth.ok) {
    CCR_LOG(kInfo, "auth_failed", common::F("request_id", request_id_),
            common::F("conn", conn_id_), common::Q("reason", auth.message));
    WriteError(401, auth.message, false, team::kNoRetryHeader);
    return;
  }
  auto info = req.body().Scan();
  if (!info.ok()) {
    WriteError(400, common::StrCat(info.status().message()));
    return;
  }
  proxy::Exchange::Params params;
  params.worker = &worker_.context();
  params.client = this;
  params.table = table_;
  params.info = *std::move(info);
  params.request_id = request_id_;
  params.connection_id = conn_id_;
  params.auth = std::move(auth);
  params.user = user;
  params.count_tokens = path == "/v1/messages/count_tokens";
  params.client_keep_alive = req.keep_alive() && !draining_;
  params.start = request_start_;
  exchange_close_ = !params.client_keep_alive;
  params.request = parser_->release();
  parser_.reset();
  // The request's fields are the exchange's now; the arena goes with the last of them.
  std::exchange(field_arena_, nullptr)->Release();
  in_exchange_ = true;
  hold_ = shared_from_this();
  exchange_ = common::MakeRecycledShared<proxy::Exchange>(std::move(params));
  // Watch the client while the exchange runs: EOF or an error cancels it; Claude Code does not
  // pipeline, and bytes that come anyway are parsed once the answer is done. A wait, not a read:
  // the read buffer goes back to the worker while the answer streams, and no read comes back
  // empty (Asio tries a read at once, which finds nothing this early); the wait costs an
  // epoll_ctl instead. A wait still pending after the answer is the wait for the next request,
  // which is then read whole into a pooled buffer.
  if (buffer_.size() == 0 && !reading_) {
    ReleaseReadBuffer();  // back to the worker: a held stream keeps no read buffer
    reading_ = true;
    socket_.async_wait(asio::ip::tcp::socket::wait_read,
                       beast::bind_front_handler(&DownstreamSession::OnWatch, shared_from_this()));
  }
  const auto exchange = exchange_;
  exchange->Start();
}

void DownstreamSession::FormatHead(const proxy::ResponseHead& head, bool close, std::string* out) {
  const std::string_view reason =
      head.reason.empty()
          ? std::string_view(bhttp::obsolete_reason(static_cast<bhttp::status>(head.status)))
          : head.reason;
  common::StrAppend(out, "HTTP/1.1 ", head.status, " ", reason, "\r\n");
  out->append(head.header_lines);
  switch (head.framing) {
    case proxy::Framing::kContentLength:
      common::StrAppend(out, "content-length: ", head.content_length, "\r\n");
      break;
    case proxy::Framing::kChunked:
      out->append("transfer-encoding: chunked\r\n");
      break;
    case proxy::Framing::kInHeaderLines:
      break;
  }
  if (close) {
    out->append("connection: close\r\n");
  }
  out->append("\r\n");
}

void DownstreamSession::WriteResponse(int status, std::string_view content_type,
                                      std::string_view body, std::string_view extra_headers) {
  const bool head_only = parser_ && parser_->get().method() == bhttp::verb::head;
  const bool close = draining_ || (parser_ && !parser_->get().keep_alive());
  const std::string lines =
      common::StrCat("content-type: ", content_type, "\r\nrequest-id: ", request_id_,
                     "\r\nx-cc-relay-request-id: ", request_id_, "\r\n", extra_headers);
  proxy::ResponseHead head;
  head.status = status;
  head.header_lines = lines;
  head.content_length = body.size();
  out_.clear();
  FormatHead(head, close, &out_);
  if (!head_only) {
    out_.append(body);
  }
  asio::async_write(socket_, asio::buffer(out_),
                    beast::bind_front_handler(&DownstreamSession::OnResponseWritten,
                                              shared_from_this(), close));
}

void DownstreamSession::WriteError(int status, std::string_view message, bool close,
                                   std::string_view extra_headers) {
  if (request_id_.empty()) {
    NewRequestId();
  }
  CCR_LOG(kInfo, "request_rejected", common::F("request_id", request_id_),
          common::F("conn", conn_id_), common::F("status", status), common::Q("reason", message));
  if (auto* obs = worker_.context().observer) {
    stats::RequestRecord rec;
    rec.request_id = request_id_;
    rec.status = status;
    rec.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - request_start_)
                          .count();
    if (refused_user_ != nullptr) {
      rec.user = refused_user_->name;
    }
    obs->OnRequestDone(rec);
  }
  proxy::Exchange::RecordRefusedUsage(worker_.context().usage, refused_user_, status,
                                      std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - request_start_)
                                          .count());
  const std::string_view type = http::ErrorTypeForStatus(status);
  const std::string body = http::AnthropicErrorBody(type, message, request_id_);
  if (close) {
    draining_ = true;  // answer, then close: the rest of the request was not read
  }
  WriteResponse(status, "application/json", body, extra_headers);
}

void DownstreamSession::OnResponseWritten(bool close, const error_code& ec, size_t /*n*/) {
  if (ec || close || draining_) {
    Close();
    return;
  }
  StartRead();
}

void DownstreamSession::AppendBody(std::string_view body, bool end) {
  size_t n = 0;
  if (!exchange_chunked_) {
    write_bufs_[n++] = asio::buffer(out_);
    write_bufs_[n++] = asio::buffer(body.data(), body.size());
  } else {
    if (!body.empty()) {
      common::StrAppend(&out_, common::Hex(body.size()), "\r\n");
    }
    write_bufs_[n++] = asio::buffer(out_);
    if (!body.empty()) {
      write_bufs_[n++] = asio::buffer(body.data(), body.size());
      write_bufs_[n++] = asio::buffer("\r\n", 2);
    }
    if (end) {
      write_bufs_[n++] = asio::buffer("0\r\n\r\n", 5);
    }
  }
  write_buf_count_ = n;
}

void DownstreamSession::SendHead(const proxy::ResponseHead& head, std::string_view body, bool end) {
  exchange_chunked_ = head.framing == proxy::Framing::kChunked;
  out_.clear();
  FormatHead(head, exchange_close_, &out_);
  AppendBody(body, end);
  WriteForExchange();
}

void DownstreamSession::SendData(std::string_view body, bool end) {
  out_.clear();
  AppendBody(body, end);
  WriteForExchange();
}

void DownstreamSession::SendRaw(std::string_view bytes) {
  write_bufs_[0] = asio::buffer(bytes.data(), bytes.size());
  write_buf_count_ = 1;
  WriteForExchange();
}

void DownstreamSession::WriteForExchange() {
  if (closed_) {
    // The client is gone already; the exchange learns it from the handler of the read.
    asio::post(socket_.get_executor(),
               beast::bind_front_handler(&DownstreamSession::OnExchangeWritten,
                                         shared_from_this(), asio::error::not_connected, 0));
    return;
  }
  // A client that stops reading for longer than the idle timeout is given up on.
  ArmDeadline(table_->timeouts.idle);
  asio::async_write(socket_,
                    std::span<const asio::const_buffer>(write_bufs_.data(), write_buf_count_),
                    beast::bind_front_handler(&DownstreamSession::OnExchangeWritten,
                                              shared_from_this()));
}

void DownstreamSession::OnExchangeWritten(const error_code& ec, size_t /*n*/) {
  DisarmDeadline();
  if (!exchange_) {
    return;
  }
  if (ec) {
    AbandonExchange();
    Close();
    return;
  }
  const auto exchange = exchange_;
  exchange->OnClientWritten();
}

void DownstreamSession::AbandonExchange() {
  const auto self = std::move(hold_);  // this session lives to the end of the call
  in_exchange_ = false;
  if (auto exchange = std::move(exchange_)) {
    exchange->OnClientGone();
  }
}

void DownstreamSession::ExchangeDone(bool keep_alive) {
  const auto self = std::move(hold_);  // this session lives to the end of the call
  in_exchange_ = false;
  exchange_.reset();  // the exchange keeps itself alive until its call returns
  table_.reset();
  if (!keep_alive || draining_ || closed_) {
    Close();
    return;
  }
  if (reading_) {
    // The watch is still pending: it becomes the wait for the next request.
    ArmDeadline(worker_.table()->timeouts.keepalive);
    return;
  }
  StartRead();
}

void DownstreamSession::RecycleBody() {
  if (parser_) {
    worker_.context().body_pool.Give(std::move(parser_->get().body()));
  }
}

void DownstreamSession::ArmDeadline(std::chrono::milliseconds d) {
  timed_out_ = false;
  deadline_.Set(d);
}

void DownstreamSession::DisarmDeadline() { deadline_.Clear(); }

void DownstreamSession::OnDeadline() {
  timed_out_ = true;
  error_code ignored;
  socket_.cancel(ignored);
  if (reading_ && !in_exchange_) {
    Close();
  }
}

void DownstreamSession::Close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  deadline_.Stop();
  error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  socket_.close(ec);
}

}  // namespace ccrelay::server
