#include "dataplane/admin/admin_service.h"

#include <grpcpp/grpcpp.h>

#include "proto/admin.grpc.pb.h"
#include "proto/admin.pb.h"

#include "dataplane/common/address.h"
#include "dataplane/common/log.h"
#include "dataplane/common/secret.h"
#include "dataplane/common/str.h"

namespace ccrelay::admin {

namespace {

// True when the call presents the token (or none is required).
bool Authorized(const grpc::CallbackServerContext& ctx, const common::Secret& token) {
  if (token.empty()) {
    return true;
  }
  const auto& md = ctx.client_metadata();
  const auto it = md.find("authorization");
  if (it == md.end()) {
    return false;
  }
  std::string_view value(it->second.data(), it->second.size());
  if (!common::StartsWithIgnoreCase(value, "Bearer ")) {
    return false;
  }
  value.remove_prefix(7);
  return token.Matches(common::StripWhitespace(value));
}

class AdminService final : public v1::DataPlaneAdmin::CallbackService {
 public:
  AdminService(AdminBackend& backend, std::string token)
      : backend_(backend), token_(std::move(token)) {}

  // The generated bases also declare the synchronous overloads; keep them visible.
  using v1::DataPlaneAdmin::CallbackService::Drain;
  using v1::DataPlaneAdmin::CallbackService::ExplainRoute;
  using v1::DataPlaneAdmin::CallbackService::GetState;

  // v1::DataPlaneAdmin::CallbackService
  grpc::ServerUnaryReactor* GetState(grpc::CallbackServerContext* ctx,
                                     const v1::GetDataPlaneStateRequest* /*request*/,
                                     v1::DataPlaneState* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!Authorized(*ctx, token_)) {
      reactor->Finish(Unauthenticated());
      return reactor;
    }
    backend_.FillState(response);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* Drain(grpc::CallbackServerContext* ctx, const v1::DrainRequest* request,
                                  v1::DrainResponse* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!Authorized(*ctx, token_)) {
      reactor->Finish(Unauthenticated());
      return reactor;
    }
    CCR_LOG(kInfo, "drain_requested", common::Q("peer", ctx->peer()),
            common::F("keep_running", request->keep_running() ? "true" : "false"));
    response->set_open_connections(backend_.StartDrain(request->keep_running()));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* ExplainRoute(grpc::CallbackServerContext* ctx,
                                         const v1::ExplainRouteRequest* request,
                                         v1::RouteExplanation* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!Authorized(*ctx, token_)) {
      reactor->Finish(Unauthenticated());
      return reactor;
    }
    const absl::Status st = backend_.ExplainRoute(*request, response);
    reactor->Finish(st.ok() ? grpc::Status::OK
                            : grpc::Status(static_cast<grpc::StatusCode>(st.code()),
                                           std::string(st.message())));
    return reactor;
  }

 private:
  static grpc::Status Unauthenticated() {
    return {grpc::StatusCode::UNAUTHENTICATED,
            "missing or wrong token (authorization: Bearer <token>)"};
  }

  AdminBackend& backend_;
  common::Secret token_;
};

}  // namespace

struct AdminServer::Impl {
  Impl(AdminBackend& backend, std::string token) : service(backend, std::move(token)) {}
  AdminService service;
  std::unique_ptr<grpc::Server> server;
  bool shut_down = false;
};

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(const Options& options,
                                                                AdminBackend& backend) {
  if (!common::IsLoopbackAddress(options.listen) && options.token.empty()) {
    return absl::InvalidArgumentError(
        common::StrCat("admin listener ", options.listen,
                       " is not on loopback: a token is required (--token-file)"));
  }
  auto impl = std::make_unique<Impl>(backend, options.token);
  int port = 0;
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second process could then bind the same port and
  // take half the calls. A port in use must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&impl->service);
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || port == 0) {
    return absl::UnavailableError(
        common::StrCat("cannot listen on ", options.listen, " (admin API)"));
  }
  auto server = std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
  const std::string host = common::HostOf(options.listen);
  server->address_ = host.find(':') != std::string::npos
                         ? common::StrCat("[", host, "]:", port)
                         : common::StrCat(host.empty() ? std::string("0.0.0.0") : host, ":", port);
  return server;
}

void AdminServer::Shutdown() {
  if (impl_ == nullptr || impl_->shut_down) {
    return;
  }
  impl_->shut_down = true;
  impl_->server->Shutdown(std::chrono::system_clock::now());
  impl_->server->Wait();
}

}  // namespace ccrelay::admin
