#include "dataplane/common/grpc_channel.h"

#include <fstream>
#include <sstream>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_interceptor.h>

#include "dataplane/common/address.h"
#include "dataplane/common/str.h"
#include "dataplane/common/token_file.h"

namespace ccrelay::common {

namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, std::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(StrCat(flag, " ", path, ": cannot read"));
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Adds the header to the initial metadata of every call.
class BearerTokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerTokenInterceptor(std::string header) : header_(std::move(header)) {}
  // grpc::experimental::Interceptor
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", header_);
    }
    methods->Proceed();
  }

 private:
  const std::string header_;
};

class BearerTokenInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenInterceptorFactory(const std::string& token)
      : header_(StrCat("Bearer ", token)) {}
  // grpc::experimental::ClientInterceptorFactoryInterface
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new BearerTokenInterceptor(header_);
  }

 private:
  const std::string header_;  // a secret: never logged
};

}  // namespace

absl::StatusOr<GrpcChannelFactory> MakeGrpcChannelFactory(const GrpcChannelOptions& options) {
  if (options.target.empty()) {
    return absl::InvalidArgumentError("the gRPC address is empty");
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (options.tls_ca_file.empty() && !options.tls_cert_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert needs --tls-ca (the server's CA)");
  }
  std::string token;
  if (!options.token_file.empty()) {
    auto t = ReadTokenFile(options.token_file);
    if (!t.ok()) {
      return t.status();
    }
    token = *std::move(t);
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (!options.tls_ca_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    auto roots = ReadPem(options.tls_ca_file, "--tls-ca");
    if (!roots.ok()) {
      return roots.status();
    }
    ssl.pem_root_certs = *std::move(roots);
    if (!options.tls_cert_file.empty()) {
      auto cert = ReadPem(options.tls_cert_file, "--tls-cert");
      if (!cert.ok()) {
        return cert.status();
      }
      auto key = ReadPem(options.tls_key_file, "--tls-key");
      if (!key.ok()) {
        return key.status();
      }
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    creds = grpc::SslCredentials(ssl);
  } else {
    if (!IsLoopbackAddress(options.target) && !options.insecure) {
      return absl::InvalidArgumentError(StrCat(
          "refusing plaintext gRPC to ", options.target,
          ", which is not a loopback address: give --tls-ca (or --insecure on a trusted network)"));
    }
    creds = grpc::InsecureChannelCredentials();
  }
  return GrpcChannelFactory([options, creds, token = std::move(token)] {
    grpc::ChannelArguments args;
    const auto set_ms = [&args](const char* key, std::chrono::milliseconds ms) {
      if (ms.count() > 0) {
        args.SetInt(key, static_cast<int>(ms.count()));
      }
    };
    set_ms(GRPC_ARG_KEEPALIVE_TIME_MS, options.keepalive_time);
    set_ms(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, options.keepalive_timeout);
    set_ms(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, options.min_reconnect_backoff);
    set_ms(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, options.min_connect_timeout);
    set_ms(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, options.max_reconnect_backoff);
    if (options.max_receive_message_bytes > 0) {
      args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
    }
    if (options.own_subchannel) {
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    }
    if (!options.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls_server_name);
    }
    if (token.empty()) {
      return grpc::CreateCustomChannel(options.target, creds, args);
    }
    return grpc::experimental::CreateCustomChannelWithInterceptors(options.target, creds, args,
                                                                   BearerTokenInterceptors(token));
  });
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateGrpcChannel(
    const GrpcChannelOptions& options) {
  auto factory = MakeGrpcChannelFactory(options);
  if (!factory.ok()) {
    return factory.status();
  }
  return (*factory)();
}

std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
BearerTokenInterceptors(const std::string& token) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<BearerTokenInterceptorFactory>(token));
  return creators;
}

}  // namespace ccrelay::common
