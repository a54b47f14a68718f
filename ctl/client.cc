#include "ctl/client.h"

#include <cstdio>

#include <grpcpp/grpcpp.h>

#include "dataplane/common/grpc_channel.h"

namespace ccrelay::ctl {

namespace {

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const GlobalFlags& flags,
                                                        const std::string& address) {
  common::GrpcChannelOptions options;
  options.target = address;
  options.tls_ca_file = flags.tls_ca;
  options.tls_server_name = flags.tls_server_name;
  options.insecure = flags.insecure;
  options.token_file = flags.token_file;
  auto channel = common::CreateGrpcChannel(options);
  if (!channel.ok()) {
    return channel.status();
  }
  auto client = std::make_unique<Client>();
  client->channel_ = *std::move(channel);
  client->address_ = address;
  client->timeout_ = std::chrono::milliseconds(flags.timeout_ms == 0 ? 10000 : flags.timeout_ms);
  return client;
}

std::unique_ptr<grpc::ClientContext> Client::Context(bool streaming) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!streaming) {
    ctx->set_deadline(std::chrono::system_clock::now() + timeout_);
  }
  return ctx;
}

int ReportRpcError(const grpc::Status& status, const std::string& address) {
  std::fprintf(stderr, "error: %s: %s\n", CodeName(status.error_code()),
               status.error_message().c_str());
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    std::fprintf(stderr, "(is anything listening at %s? see --control-plane / --addr)\n",
                 address.c_str());
  } else if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    std::fprintf(stderr, "(give the shared token with --token-file)\n");
  }
  return 1;
}

}  // namespace ccrelay::ctl
