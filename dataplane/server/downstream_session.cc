#include "dataplane/server/downstream_session.h"

#include <random>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include "dataplane/common/log.h"
#include "dataplane/common/str.h"
#include "dataplane/http/anthropic_error.h"
#include "dataplane/server/worker.h"
#include "dataplane/stats/data_plane_metrics.h"
#include "dataplane/stats/key_metrics.h"

namespace ccrelay::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr size_t kReadChunk = 16 * 1024;
// While an exchange runs the client connection is only watched (EOF or an error cancels it;
// Claude Code does not pipeline): a small read, so that a held stream keeps no request-sized
// buffer.
constexpr size_t kWatchChunk = 512;

std::string_view PathOf(std::string_view target) {
  const size_t q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

std::string_view QueryOf(std::string_view target) {
  const size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

std::string_view QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view kv = query.substr(0, amp);
    const std::string_view k = kv.substr(0, kv.find('='));
    if (k == name) {
      return kv.size() > k.size() ? kv.substr(k.size() + 1) : std::string_view();
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return {};
}

}  // namespace

DownstreamSession::DownstreamSession(asio::ip::tcp::socket&& socket, Worker& worker, uint64_t id,
                                     bool metrics_only)
    : socket_(std::move(socket)),
      worker_(worker),
      metrics_only_(metrics_only),
      conn_id_(common::StrCat("C", id)),
      deadline_(worker.ioc()) {
  worker_.Register(this);
  worker_.active_sessions().fetch_add(1, std::memory_order_relaxed);
}

DownstreamSession::~DownstreamSession() {
  worker_.Unregister(this);
  worker_.active_sessions().fetch_sub(1, std::memory_order_relaxed);
}

void DownstreamSession::Start() {
  error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  StartRead();
}

void DownstreamSession::Abort() {
  if (exchange_) {
    exchange_->Cancel();  // ends with OnExchangeDone(false), which drops the exchange
  }
  exchange_.reset();
  Close();
}

void DownstreamSession::Drain() {
  draining_ = true;
  if (!in_exchange_) {
    Close();
  }
}

std::string DownstreamSession::NewRequestId() {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = "req_ccr_";
  uint64_t a = rng();
  uint64_t b = rng();
  for (int i = 0; i < 20; ++i) {
    uint64_t& src = i < 10 ? a : b;
    id.push_back(kAlphabet[src % 62]);
    src /= 62;
  }
  return id;
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
  reading_ = true;
  socket_.async_read_some(buffer_.prepare(kReadChunk),
                          beast::bind_front_handler(&DownstreamSession::OnReadSome,
                                                    shared_from_this()));
}

void DownstreamSession::OnReadSome(const error_code& ec, size_t n) {
  reading_ = false;
  if (ec) {
    if (in_exchange_ && exchange_) {
      exchange_->Cancel();  // calls OnExchangeDone(false)
    } else {
      Close();
    }
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
  parser_.emplace();
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
  request_id_ = NewRequestId();
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
      req.body().reserve(*len + 64);  // room for simdjson's padding: no copy later
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
  ArmDeadline(table_->timeouts.request_body);
  const auto length = parser_->content_length();
  if (!length.has_value() || parser_->chunked()) {
    bhttp::async_read(socket_, buffer_, *parser_,
                      beast::bind_front_handler(&DownstreamSession::OnBody, shared_from_this()));
    return;
  }
  // Content-Length (checked against max_body_bytes with the headers): the bytes already read
  // past the headers, then the rest straight from the socket into the body (its capacity was
  // reserved with room for simdjson's padding).
  std::string& body = parser_->get().body();
  const size_t total = static_cast<size_t>(*length);
  const size_t have = std::min(buffer_.size(), total);
  body.resize(total);
  asio::buffer_copy(asio::buffer(body.data(), have), buffer_.data(), have);
  buffer_.consume(have);
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
  const std::string_view path = PathOf(target);
  const auto method = req.method();
  const bool is_get = method == bhttp::verb::get;
  const bool is_head = method == bhttp::verb::head;

  if (path == "/metrics") {
    if (!is_get && !is_head) {
      WriteError(405, "method not allowed on /metrics", false, "allow: GET, HEAD\r\n");
      return;
    }
    HandleMetrics();
    return;
  }
  if (metrics_only_ && path != "/health" && path != "/") {
    WriteError(404, common::StrCat("no route for ", path,
                                   " on the metrics listener (it serves /metrics and /health)"));
    return;
  }
  if (path == "/v1/messages" || path == "/v1/messages/count_tokens") {
    if (method != bhttp::verb::post) {
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
    auth::AuthResult auth = auth::Authenticate(
        table_->auth,
        x_api_key == req.end() ? std::string_view() : std::string_view(x_api_key->value()),
        authorization == req.end() ? std::string_view() : std::string_view(authorization->value()));
    if (!auth.ok) {
      CCR_LOG(kInfo, "auth_failed", common::F("request_id", request_id_),
              common::F("conn", conn_id_), common::Q("reason", auth.message));
      WriteError(401, auth.message);
      return;
    }
    auto info = http::ScanRequestBody(&req.body());
    if (!info.ok()) {
      WriteError(400, common::StrCat(info.status().message()));
      return;
    }
    proxy::Exchange::Params params;
    params.worker = &worker_.context();
    params.client = &socket_;
    params.table = table_;
    params.info = *std::move(info);
    params.request_id = request_id_;
    params.connection_id = conn_id_;
    params.auth = std::move(auth);
    params.count_tokens = path == "/v1/messages/count_tokens";
    params.client_keep_alive = req.keep_alive() && !draining_;
    params.start = request_start_;
    params.owner = shared_from_this();
    params.request = parser_->release();
    in_exchange_ = true;
    exchange_ = std::make_shared<proxy::Exchange>(std::move(params));
    // Watch the client while the exchange runs: EOF or an error cancels it.
    if (buffer_.size() == 0 && !reading_) {
      buffer_.shrink_to_fit();  // the request's read buffer is not needed while it streams
      reading_ = true;
      socket_.async_read_some(buffer_.prepare(kWatchChunk),
                              beast::bind_front_handler(&DownstreamSession::OnReadSome,
                                                        shared_from_this()));
    }
    exchange_->Start();
    return;
  }
  if (path == "/v1/models") {
    if (!is_get) {
      WriteError(405, "method not allowed on /v1/models", false, "allow: GET\r\n");
      return;
    }
    HandleModels(QueryOf(target));
    return;
  }
  if (std::string_view(path).starts_with("/v1/models/")) {
    if (!is_get) {
      WriteError(405, "method not allowed", false, "allow: GET\r\n");
      return;
    }
    const std::string_view id = path.substr(std::string_view("/v1/models/").size());
    for (const auto& [model_id, json] : table_->model_entries) {
      if (model_id == id) {
        WriteResponse(200, "application/json", json);
        return;
      }
    }
    WriteError(404, common::StrCat("model ", id, " is not served by this relay"));
    return;
  }
  if (path == "/health" || path == "/") {
    if (!is_get && !is_head) {
      WriteError(405, common::StrCat("method not allowed on ", path), false,
                 "allow: GET, HEAD\r\n");
      return;
    }
    const bool ready = !table_->providers.empty();
    std::string body =
        path == "/health"
            ? common::StrCat("{\"status\":\"", ready ? "ok" : "waiting_for_snapshot",
                             "\",\"snapshot_version\":", table_->version, "}")
            : std::string("{\"name\":\"cc-relay\",\"status\":\"ok\"}");
    WriteResponse(path == "/health" && !ready ? 503 : 200, "application/json", std::move(body));
    return;
  }
  WriteError(404, common::StrCat("no route for ", std::string_view(req.method_string()), " ", path));
}

void DownstreamSession::HandleModels(std::string_view query) {
  const auto& entries = table_->model_entries;
  size_t limit = 20;
  if (std::string_view l = QueryParam(query, "limit"); !l.empty()) {
    if (!common::ParseUint(l, &limit) || limit < 1 || limit > 1000) {
      WriteError(400, "limit: must be an integer between 1 and 1000");
      return;
    }
  }
  size_t begin = 0;
  size_t end = entries.size();
  const std::string_view after = QueryParam(query, "after_id");
  const std::string_view before = QueryParam(query, "before_id");
  auto index_of = [&](std::string_view id) -> size_t {
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].first == id) {
        return i;
      }
    }
    return entries.size();
  };
  if (!after.empty()) {
    begin = std::min(entries.size(), index_of(after) + 1);
    end = std::min(entries.size(), begin + limit);
  } else if (!before.empty()) {
    end = index_of(before);
    begin = end > limit ? end - limit : 0;
  } else {
    end = std::min(entries.size(), limit);
  }
  std::string body = "{\"object\":\"list\",\"data\":[";
  for (size_t i = begin; i < end; ++i) {
    if (i != begin) {
      body.push_back(',');
    }
    body += entries[i].second;
  }
  const bool has_more = !before.empty() ? begin > 0 : end < entries.size();
  common::StrAppend(&body, "],\"has_more\":", has_more ? "true" : "false", ",\"first_id\":",
                  begin < end ? http::JsonQuote(entries[begin].first) : "null", ",\"last_id\":",
                  begin < end ? http::JsonQuote(entries[end - 1].first) : "null", "}");
  WriteResponse(200, "application/json", std::move(body));
}

void DownstreamSession::HandleMetrics() {
  stats::DataPlaneMetrics* metrics = worker_.metrics();
  if (metrics == nullptr) {
    WriteError(404, "metrics are not enabled on this data plane");
    return;
  }
  stats::ScrapeState state;
  state.snapshot_version = table_->version;
  state.open_connections = worker_.active_sessions().load(std::memory_order_relaxed);
  state.keys = stats::SampleKeys(*table_, std::chrono::steady_clock::now());
  WriteResponse(200, stats::kPrometheusContentType, metrics->Render(state));
}

void DownstreamSession::WriteResponse(int status, std::string_view content_type, std::string body,
                                      std::string_view extra_headers) {
  const bool head = parser_ && parser_->get().method() == bhttp::verb::head;
  const bool close = draining_ || (parser_ && !parser_->get().keep_alive());
  out_ = common::StrCat("HTTP/1.1 ", status, " ",
                      bhttp::obsolete_reason(static_cast<bhttp::status>(status)),
                      "\r\ncontent-type: ", content_type, "\r\ncontent-length: ", body.size(),
                      "\r\nrequest-id: ", request_id_, "\r\nx-cc-relay-request-id: ", request_id_,
                      "\r\n", extra_headers, close ? "connection: close\r\n" : "", "\r\n");
  if (!head) {
    out_ += body;
  }
  asio::async_write(socket_, asio::buffer(out_),
                    beast::bind_front_handler(&DownstreamSession::OnResponseWritten,
                                              shared_from_this(), close));
}

void DownstreamSession::WriteError(int status, std::string_view message, bool close,
                                   std::string_view extra_headers) {
  if (request_id_.empty()) {
    request_id_ = NewRequestId();
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
    obs->OnRequestDone(rec);
  }
  const std::string_view type = http::ErrorTypeForStatus(status);
  std::string body = http::AnthropicErrorBody(type, message, request_id_);
  if (close) {
    draining_ = true;  // answer, then close: the rest of the request was not read
  }
  WriteResponse(status, "application/json", std::move(body), extra_headers);
}

void DownstreamSession::OnResponseWritten(bool close, const error_code& ec, size_t /*n*/) {
  if (ec || close || draining_) {
    Close();
    return;
  }
  StartRead();
}

void DownstreamSession::OnExchangeDone(bool keep_alive) {
  in_exchange_ = false;
  exchange_.reset();
  table_.reset();
  if (!keep_alive || draining_ || closed_) {
    Close();
    return;
  }
  if (reading_) {
    // The watch read is still pending: it becomes the read of the next request.
    ArmDeadline(worker_.table()->timeouts.keepalive);
    return;
  }
  StartRead();
}

void DownstreamSession::ArmDeadline(std::chrono::milliseconds d) {
  const uint64_t gen = ++deadline_gen_;
  timed_out_ = false;
  deadline_.expires_after(d);
  deadline_.async_wait([self = shared_from_this(), gen](const error_code& ec) {
    if (ec || gen != self->deadline_gen_) {
      return;
    }
    self->timed_out_ = true;
    error_code ignored;
    self->socket_.cancel(ignored);
    if (self->reading_ && !self->in_exchange_) {
      self->Close();
    }
  });
}

void DownstreamSession::DisarmDeadline() {
  ++deadline_gen_;
  deadline_.cancel();
}

void DownstreamSession::Close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  DisarmDeadline();
  error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  socket_.close(ec);
}

}  // namespace ccrelay::server
