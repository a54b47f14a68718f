#include "controlplane/health/health_probe.h"

#include <array>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "dataplane/common/clock.h"
#include "dataplane/common/str.h"
#include "dataplane/upstream/http_upstream_request.h"

namespace ccrelay::controlplane {
namespace {

namespace asio = boost::asio;
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

// One probe: a GET on a fresh connection through the data plane's UpstreamRequest (the same
// resolve, connect, TLS with SNI and host-name check, write and read as every relayed request),
// under one deadline for the whole probe.
class Probe : public upstream::UpstreamCallbacks, public std::enable_shared_from_this<Probe> {
 public:
  Probe(asio::io_context& ioc, ProbeRequest request, std::function<void(ProbeResult)> done)
      : ioc_(ioc),
        resolver_(ioc),
        timer_(ioc),
        request_(std::move(request)),
        done_(std::move(done)) {}

  void Start() {
    timer_.expires_after(request_.timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) {
        self->resolver_.cancel();
        self->Finish(ProbeResult{
            0, StrCat("timeout after ", self->request_.timeout.count(), " ms (", self->Step(), ")"),
            ""});
      }
    });
    providers::UpstreamTarget target;
    target.host_header = request_.url.host_header;
    target.path_prefix = request_.url.path_prefix;
    target.mapped_model = request_.model;
    target.key = request_.key;
    providers::AwsSigningKey aws;
    if (request_.aws.has_value()) {
      aws = {request_.aws->access_key_id, request_.aws->secret_access_key,
             request_.aws->session_token};
      target.aws = &aws;
    }
    target.region = request_.region;
    target.project = request_.project;
    target.oauth_token = request_.oauth_token;
    target.unix_seconds = common::RealClock::Get().UnixMillis() / 1000;
    request_.adapter->BuildHealthCheck(target, request_.model, &plan_);
    upstream::UpstreamEndpoint endpoint{request_.url.host, request_.url.port, request_.url.tls,
                                        request_.tls, request_.url.pool_key};
    // Each step may take the whole budget; the probe's own deadline (above) ends it first.
    const auto step = request_.timeout + std::chrono::seconds(1);
    upstream::StepTimeouts timeouts{step, step, step};
    upstream_ = std::make_shared<upstream::HttpUpstreamRequest>(ioc_.get_executor(), resolver_,
                                                                nullptr, *this);
    const std::array<asio::const_buffer, 2> bufs = {asio::buffer(plan_.head),
                                                    asio::buffer(plan_.rewritten_body)};
    upstream_->Send(endpoint, timeouts, std::span<const asio::const_buffer>(bufs), true);
  }

  // upstream::UpstreamCallbacks
  void OnUpstreamHead(const upstream::UpstreamResponseHead& head) override {
    const auto self = shared_from_this();
    status_ = head.status;
    // Bedrock names its errors in a header (ThrottlingException:http://internal.amazon.com/...).
    if (auto it = head.fields.find("x-amzn-errortype"); it != head.fields.end()) {
      header_error_type_ = std::string(it->value().substr(0, it->value().find(':')));
    }
    if (status_ < 400) {
      Finish(ProbeResult{status_, "", ""});
      return;
    }
    // An error body says why (error.type): read it, up to kMaxBodyBytes.
    bool end = false;
    body_.append(upstream_->TakeBuffered(&end));
    if (end) {
      Finish(ProbeResult{status_, "", BodyOrHeaderErrorType()});
    } else {
      upstream_->ReadBody();
    }
  }

  void OnUpstreamData(std::string_view bytes, bool end) override {
    const auto self = shared_from_this();
    if (body_.size() + bytes.size() > kMaxBodyBytes) {
      Finish(ProbeResult{status_, "", ""});  // too long to be an error object worth reading
      return;
    }
    body_.append(bytes);
    if (end) {
      Finish(ProbeResult{status_, "", BodyOrHeaderErrorType()});
    } else {
      upstream_->ReadBody();
    }
  }

  void OnUpstreamFailure(const upstream::UpstreamFailure& failure) override {
    const auto self = shared_from_this();
    if (status_ != 0) {
      // The status line is what counts: a body cut short does not matter.
      Finish(ProbeResult{status_, "", ""});
      return;
    }
    Finish(ProbeResult{0, failure.detail, ""});
  }

 private:
  std::string BodyOrHeaderErrorType() const {
    std::string t = ErrorType(body_);
    return t.empty() ? header_error_type_ : t;
  }

  // The step a timeout interrupted, for the reason shown to people.
  std::string_view Step() const { return status_ != 0 ? "read" : "request"; }

  void Finish(ProbeResult result) {
    if (finished_) {
      return;
    }
    finished_ = true;
    timer_.cancel();
    if (upstream_) {
      upstream_->Cancel();
    }
    done_(std::move(result));
  }

  asio::io_context& ioc_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer timer_;
  ProbeRequest request_;
  std::function<void(ProbeResult)> done_;
  providers::UpstreamRequestPlan plan_;
  std::string header_error_type_;
  std::shared_ptr<upstream::HttpUpstreamRequest> upstream_;
  int status_ = 0;
  std::string body_;
  bool finished_ = false;
};

}  // namespace

void StartProbe(asio::io_context& ioc, ProbeRequest request,
                std::function<void(ProbeResult)> done) {
  std::make_shared<Probe>(ioc, std::move(request), std::move(done))->Start();
}

}  // namespace ccrelay::controlplane
