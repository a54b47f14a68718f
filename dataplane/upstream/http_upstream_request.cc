#include "dataplane/upstream/http_upstream_request.h"

#include <algorithm>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/error.hpp>

#include "dataplane/common/recycling_allocator.h"
#include "dataplane/common/str.h"
#include "dataplane/upstream/tls_context_impl.h"

namespace ccrelay::upstream {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr size_t kMaxResponseHeaderBytes = 64 * 1024;

}  // namespace

HttpUpstreamRequest::HttpUpstreamRequest(asio::any_io_executor executor,
                                         asio::ip::tcp::resolver& resolver, ConnectionPool* pool,
                                         UpstreamCallbacks& callbacks)
    : executor_(std::move(executor)),
      resolver_(resolver),
      pool_(pool),
      callbacks_(&callbacks),
      deadline_(executor_, *this, &HttpUpstreamRequest::OnDeadline) {}

HttpUpstreamRequest::~HttpUpstreamRequest() { FreeReadBuffer(buf_, buf_size_); }

char* HttpUpstreamRequest::NewReadBuffer(size_t size) {
  if (size == kReadBufferBytes) {
    return common::RecyclingAllocator<ReadBlock<kReadBufferBytes>>().allocate(1)->bytes;
  }
  return common::RecyclingAllocator<ReadBlock<kMaxReadBufferBytes>>().allocate(1)->bytes;
}

void HttpUpstreamRequest::FreeReadBuffer(char* buf, size_t size) {
  if (buf == nullptr) {
    return;
  }
  if (size == kReadBufferBytes) {
    common::RecyclingAllocator<ReadBlock<kReadBufferBytes>>().deallocate(
        reinterpret_cast<ReadBlock<kReadBufferBytes>*>(buf), 1);
  } else {
    common::RecyclingAllocator<ReadBlock<kMaxReadBufferBytes>>().deallocate(
        reinterpret_cast<ReadBlock<kMaxReadBufferBytes>*>(buf), 1);
  }
}

void HttpUpstreamRequest::Send(const UpstreamEndpoint& endpoint, const StepTimeouts& timeouts,
                               std::span<const asio::const_buffer> request,
                               bool fresh_connection) {
  endpoint_ = endpoint;
  timeouts_ = timeouts;
  request_buf_count_ = std::min(request.size(), request_bufs_.size());
  std::copy_n(request.begin(), request_buf_count_, request_bufs_.begin());
  timed_out_ = false;
  got_head_ = false;
  DropConnection();
  if (!fresh_connection && pool_ != nullptr) {
    conn_ = pool_->Take(endpoint_.pool_key);
  }
  reused_ = conn_ != nullptr;
  if (conn_) {
    Write();
  } else {
    Connect();
  }
}

void HttpUpstreamRequest::Connect() {
  conn_ = std::make_unique<UpstreamConnection>(executor_, std::string(endpoint_.pool_key));
  Arm(timeouts_.connect);
  resolver_.async_resolve(endpoint_.host, endpoint_.port,
                          beast::bind_front_handler(&HttpUpstreamRequest::OnResolved,
                                                    shared_from_this()));
}

void HttpUpstreamRequest::OnResolved(const error_code& ec,
                                     const asio::ip::tcp::resolver::results_type& results) {
  if (Gone()) {
    return;
  }
  if (ec || timed_out_) {
    Fail(timed_out_ ? FailureKind::kTimeout : FailureKind::kConnect,
         common::StrCat("resolve: ", timed_out_ ? std::string("timed out") : ec.message()));
    return;
  }
  asio::async_connect(conn_->socket(), results,
                      [self = shared_from_this()](const error_code& e, const auto&) {
                        self->OnConnected(e);
                      });
}

void HttpUpstreamRequest::OnConnected(const error_code& ec) {
  if (Gone()) {
    return;
  }
  if (ec) {
    Fail(timed_out_ ? FailureKind::kTimeout : FailureKind::kConnect,
         common::StrCat("connect: ", ec.message()));
    return;
  }
  error_code ignored;
  conn_->socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  if (!endpoint_.tls) {
    Write();
    return;
  }
  conn_->EnableTls(endpoint_.tls_context->ctx);
  auto& tls = conn_->tls_stream();
  // SNI, and the certificate must name the host (verify_peer is set on the context).
  // SSL_set_tlsext_host_name, without the macro's C-style cast. The host is NUL-terminated in a
  // std::string of its own.
  const std::string host(endpoint_.host);
  if (SSL_ctrl(tls.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(host.c_str())) != 1) {
    Fail(FailureKind::kConnect, "tls: cannot set SNI");
    return;
  }
  tls.set_verify_callback(asio::ssl::host_name_verification(host));
  tls.async_handshake(asio::ssl::stream_base::client,
                      beast::bind_front_handler(&HttpUpstreamRequest::OnHandshake,
                                                shared_from_this()));
}

void HttpUpstreamRequest::OnHandshake(const error_code& ec) {
  if (Gone()) {
    return;
  }
  if (ec) {
    Fail(timed_out_ ? FailureKind::kTimeout : FailureKind::kConnect,
         common::StrCat("tls handshake: ", ec.message()));
    return;
  }
  Write();
}

void HttpUpstreamRequest::Write() {
  Disarm();
  Arm(timeouts_.first_byte);
  conn_->AsyncWrite(std::span<const asio::const_buffer>(request_bufs_.data(), request_buf_count_),
                    beast::bind_front_handler(&HttpUpstreamRequest::OnWritten,
                                              shared_from_this()));
}

void HttpUpstreamRequest::OnWritten(const error_code& ec, size_t /*n*/) {
  if (Gone()) {
    return;
  }
  if (ec) {
    Fail(timed_out_ ? FailureKind::kTimeout : FailureKind::kReset,
         common::StrCat("write: ", ec.message()));
    return;
  }
  parser_.emplace();
  parser_->header_limit(kMaxResponseHeaderBytes);
  parser_->body_limit(boost::none);
  ReadHead();
}

void HttpUpstreamRequest::ReadHead() {
  conn_->AsyncReadHeader(*parser_, beast::bind_front_handler(&HttpUpstreamRequest::OnHead,
                                                             shared_from_this()));
}

void HttpUpstreamRequest::OnHead(const error_code& ec, size_t /*n*/) {
  if (Gone()) {
    return;
  }
  if (ec) {
    Fail(timed_out_ ? FailureKind::kTimeout : FailureKind::kReset,
         common::StrCat("response: ", ec.message()));
    return;
  }
  Disarm();
  got_head_ = true;
  conn_->requests++;
  const auto& res = parser_->get();
  callbacks_->OnUpstreamHead(UpstreamResponseHead{static_cast<int>(res.result_int()),
                                                  std::string_view(res.reason()), res.base(),
                                                  res.has_content_length()});
}

void HttpUpstreamRequest::EnsureReadBuffer() {
  if (buf_size_ != 0) {
    return;
  }
  // A pooled connection whose buffer already grew serves a fast upstream: start large.
  const bool fast = conn_ && conn_->buffer().capacity() >= UpstreamConnection::kMaxReadBufferBytes;
  buf_size_ = fast ? kMaxReadBufferBytes : kReadBufferBytes;
  buf_ = NewReadBuffer(buf_size_);
}

void HttpUpstreamRequest::GrowReadBufferAfter(size_t got) {
  if (got * 2 >= buf_size_ && buf_size_ < kMaxReadBufferBytes) {
    // A read filled half the buffer or more: this answer comes in bursts (a slow stream's reads
    // are single events of a few hundred bytes); read it in larger pieces from now on. The
    // bytes just read are still needed: copy them over.
    char* bigger = NewReadBuffer(kMaxReadBufferBytes);
    std::copy_n(buf_, got, bigger);
    FreeReadBuffer(buf_, buf_size_);
    buf_ = bigger;
    buf_size_ = kMaxReadBufferBytes;
    if (conn_) {
      conn_->buffer().reserve(UpstreamConnection::kMaxReadBufferBytes);
    }
  }
}

void HttpUpstreamRequest::PointBodyAt(size_t offset) {
  auto& body = parser_->get().body();
  body.data = buf_ + offset;
  body.size = buf_size_ - offset;
}

size_t HttpUpstreamRequest::DrainBuffered(size_t offset) {
  auto& buffer = conn_->buffer();
  if (parser_->is_done() || buffer.size() == 0 || offset >= buf_size_) {
    return 0;
  }
  PointBodyAt(offset);
  // Eager only for this synchronous drain of what is already buffered: an eager parser inside
  // async_read_some would keep reading until the buffer fills, holding events back.
  error_code ec;
  parser_->eager(true);
  const size_t used = parser_->put(buffer.data(), ec);
  parser_->eager(false);
  buffer.consume(used);
  return buf_size_ - offset - parser_->get().body().size;
}

std::string_view HttpUpstreamRequest::TakeBuffered(bool* end) {
  *end = false;
  if (!conn_ || !parser_) {
    return {};
  }
  EnsureReadBuffer();
  const size_t got = DrainBuffered(0);
  GrowReadBufferAfter(got);
  if (parser_->is_done()) {
    *end = true;
    Release();
  }
  return std::string_view(buf_, got);
}

void HttpUpstreamRequest::ReadBody() {
  if (parser_->is_done()) {
    Release();
    asio::post(executor_, [self = shared_from_this()] {
      if (!self->Gone()) {
        self->callbacks_->OnUpstreamData({}, true);
      }
    });
    return;
  }
  EnsureReadBuffer();
  PointBodyAt(0);
  Arm(timeouts_.idle);
  conn_->AsyncReadSome(*parser_,
                       beast::bind_front_handler(&HttpUpstreamRequest::OnBody, shared_from_this()));
}

void HttpUpstreamRequest::OnBody(const error_code& ec_in, size_t /*n*/) {
  if (Gone()) {
    return;
  }
  Disarm();
  error_code ec = ec_in;
  if (ec == bhttp::error::need_buffer) {
    ec = {};  // the buffer is full: not an error
  }
  size_t got = buf_size_ - parser_->get().body().size;
  if (ec) {
    Fail(timed_out_ ? FailureKind::kTimeout : FailureKind::kReset,
         timed_out_ ? std::string("upstream idle timeout") : ec.message());
    return;
  }
  got += DrainBuffered(got);  // further chunks that arrived in the same read
  GrowReadBufferAfter(got);
  const bool end = parser_->is_done();
  if (end) {
    Release();
  }
  callbacks_->OnUpstreamData(std::string_view(buf_, got), end);
}

void HttpUpstreamRequest::Cancel() {
  callbacks_ = nullptr;
  deadline_.Stop();
  if (conn_) {
    conn_->Close();
    closed_.push_back(std::move(conn_));
  }
}

void HttpUpstreamRequest::Fail(FailureKind kind, std::string detail) {
  Disarm();
  UpstreamFailure failure;
  failure.kind = kind;
  failure.detail = std::move(detail);
  failure.stale_pooled_connection = kind == FailureKind::kReset && reused_ && !got_head_;
  DropConnection();
  callbacks_->OnUpstreamFailure(failure);
}

void HttpUpstreamRequest::Release() {
  if (!conn_) {
    return;
  }
  if (pool_ != nullptr && parser_->keep_alive() && conn_->buffer().size() == 0) {
    pool_->Put(std::move(conn_));
  } else {
    DropConnection();
  }
}

void HttpUpstreamRequest::DropConnection() {
  if (conn_) {
    conn_->Close();
    closed_.push_back(std::move(conn_));
  }
}

void HttpUpstreamRequest::Arm(std::chrono::milliseconds d) {
  deadline_.Set(d);
}

void HttpUpstreamRequest::Disarm() { deadline_.Clear(); }

void HttpUpstreamRequest::OnDeadline() {
  if (Gone()) {
    return;
  }
  timed_out_ = true;
  // A resolve in flight is not cancelled (the resolver is the worker's); its handler sees
  // timed_out_.
  if (conn_) {
    conn_->Close();
  }
}

}  // namespace ccrelay::upstream
