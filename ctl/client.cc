#include "ctl/client.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "dataplane/common/address.h"
#include "dataplane/common/str.h"
#include "dataplane/common/token_file.h"

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

absl::StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(common::StrCat(what, " ", path, ": cannot read"));
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const GlobalFlags& flags,
                                                        const std::string& address) {
  auto client = std::make_unique<Client>();
  client->address_ = address;
  client->timeout_ = std::chrono::milliseconds(flags.timeout_ms == 0 ? 10000 : flags.timeout_ms);
  if (!flags.token_file.empty()) {
    auto token = common::ReadTokenFile(flags.token_file);
    if (!token.ok()) {
      return token.status();
    }
    client->token_ = *std::move(token);
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  grpc::ChannelArguments args;
  if (!flags.tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    auto roots = ReadFile(flags.tls_ca, "--tls-ca");
    if (!roots.ok()) {
      return roots.status();
    }
    ssl.pem_root_certs = *std::move(roots);
    creds = grpc::SslCredentials(ssl);
    if (!flags.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(flags.tls_server_name);
    }
  } else {
    if (!common::IsLoopbackAddress(address) && !flags.insecure) {
      return absl::InvalidArgumentError(common::StrCat(
          "refusing plaintext gRPC to ", address,
          ", which is not a loopback address: give --tls-ca (or --insecure on a trusted network)"));
    }
    creds = grpc::InsecureChannelCredentials();
  }
  client->channel_ = grpc::CreateCustomChannel(address, creds, args);
  return client;
}

std::unique_ptr<grpc::ClientContext> Client::Context(bool streaming) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token_.empty()) {
    ctx->AddMetadata("authorization", common::StrCat("Bearer ", token_));
  }
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
