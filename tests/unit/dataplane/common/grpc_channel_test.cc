#include "dataplane/common/grpc_channel.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <grpcpp/grpcpp.h>

#include "proto/admin.grpc.pb.h"

#include "tests/fakes/temp_dir.h"
#include "tests/fakes/test_ca.h"

namespace ccrelay::common {
namespace {

using ccrelay::testing::CertFiles;
using ccrelay::testing::ReadFileOrEmpty;
using ccrelay::testing::TempDir;
using ccrelay::testing::TestPki;
using ::testing::HasSubstr;
using ::testing::Not;

// A DataPlaneAdmin server on 127.0.0.1:0 that answers GetState and remembers the
// "authorization" metadata of the last call.
class FakeAdminServer final : public v1::DataPlaneAdmin::Service {
 public:
  explicit FakeAdminServer(std::shared_ptr<grpc::ServerCredentials> creds) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", std::move(creds), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeAdminServer() override {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }

  int Port() const { return port_; }
  std::string Authorization() const {
    std::lock_guard<std::mutex> lock(mu_);
    return authorization_;
  }

  // v1::DataPlaneAdmin::Service
  grpc::Status GetState(grpc::ServerContext* ctx, const v1::GetDataPlaneStateRequest*,
                        v1::DataPlaneState* state) override {
    auto it = ctx->client_metadata().find("authorization");
    std::lock_guard<std::mutex> lock(mu_);
    authorization_ = it == ctx->client_metadata().end()
                         ? std::string()
                         : std::string(it->second.data(), it->second.size());
    state->set_id("fake");
    return grpc::Status::OK;
  }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  mutable std::mutex mu_;
  std::string authorization_;
};

std::shared_ptr<grpc::ServerCredentials> TlsServerCredentials(const CertFiles& cert,
                                                              const std::string& client_ca = "") {
  grpc::SslServerCredentialsOptions ssl(
      client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                        : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_key_cert_pairs.push_back(
      {ReadFileOrEmpty(cert.key_file), ReadFileOrEmpty(cert.cert_file)});
  ssl.pem_root_certs = ReadFileOrEmpty(client_ca);
  return grpc::SslServerCredentials(ssl);
}

// GetState over `channel` with a 5 s deadline.
grpc::Status CallGetState(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::DataPlaneAdmin::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::DataPlaneState state;
  return stub->GetState(&ctx, v1::GetDataPlaneStateRequest(), &state);
}

// GetState over a channel made from `o` (one that cannot be made is a test failure).
grpc::Status CallGetState(const GrpcChannelOptions& o) {
  auto channel = CreateGrpcChannel(o);
  if (!channel.ok()) {
    ADD_FAILURE() << channel.status();
    return {grpc::StatusCode::INVALID_ARGUMENT, "no channel"};
  }
  return CallGetState(*channel);
}

// To `server` (on 127.0.0.1) by the name `host`; TLS verified against `ca_file` if one is given.
GrpcChannelOptions OptionsFor(const std::string& host, const FakeAdminServer& server,
                              const std::string& ca_file = "") {
  GrpcChannelOptions o;
  o.target = host + ":" + std::to_string(server.Port());
  o.tls_ca_file = ca_file;
  return o;
}

std::unique_ptr<TestPki> MakePki() {
  std::string error;
  std::unique_ptr<TestPki> pki = TestPki::Create(&error);
  EXPECT_NE(pki, nullptr) << error;
  return pki;
}

// Why no channel to 127.0.0.1:1 can be made with `o` (OK when one can).
absl::Status ErrorOf(GrpcChannelOptions o) {
  o.target = "127.0.0.1:1";
  return CreateGrpcChannel(o).status();
}

TEST(GrpcChannelTest, UnreadableFilesAreNotFoundAndNamed) {
  GrpcChannelOptions ca;
  ca.tls_ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(ErrorOf(ca), absl::NotFoundError("--tls-ca /nonexistent/ca.pem: cannot read"));
  GrpcChannelOptions token;
  token.token_file = "/nonexistent/token";
  EXPECT_EQ(ErrorOf(token), absl::NotFoundError("token file /nonexistent/token: cannot read"));
}

TEST(GrpcChannelTest, ClientCertificateNeedsItsKeyAndTheCa) {
  GrpcChannelOptions o;
  o.tls_cert_file = "cert.pem";
  EXPECT_EQ(ErrorOf(o), absl::InvalidArgumentError("--tls-cert and --tls-key go together"));
  o.tls_key_file = "key.pem";
  EXPECT_EQ(ErrorOf(o), absl::InvalidArgumentError("--tls-cert needs --tls-ca (the server's CA)"));
}

TEST(GrpcChannelTest, PlaintextOnlyToLoopbackUnlessInsecure) {
  GrpcChannelOptions o;
  o.target = "10.0.0.1:8788";
  auto refused = CreateGrpcChannel(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status()));
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("refusing plaintext gRPC to 10.0.0.1:8788"));
  o.insecure = true;
  EXPECT_TRUE(CreateGrpcChannel(o).ok());
  GrpcChannelOptions loopback;
  loopback.target = "[::1]:8788";
  EXPECT_TRUE(CreateGrpcChannel(loopback).ok());
  loopback.target = "";
  EXPECT_EQ(CreateGrpcChannel(loopback).status().message(), "the gRPC address is empty");
}

TEST(GrpcChannelTest, PlaintextCallCarriesTheTokenAsBearer) {
  FakeAdminServer server(grpc::InsecureServerCredentials());
  TempDir dir;
  GrpcChannelOptions o = OptionsFor("127.0.0.1", server);
  o.token_file = dir.WriteFile("token", "  s3cret-token \n");
  ASSERT_TRUE(CallGetState(o).ok());
  EXPECT_EQ(server.Authorization(), "Bearer s3cret-token");
  o.token_file.clear();
  ASSERT_TRUE(CallGetState(o).ok());
  EXPECT_EQ(server.Authorization(), "");
}

TEST(GrpcChannelTest, TlsChannelVerifiesTheServerAgainstTheCa) {
  std::unique_ptr<TestPki> pki = MakePki();
  std::unique_ptr<TestPki> other = MakePki();
  ASSERT_TRUE(pki != nullptr && other != nullptr);
  FakeAdminServer server(TlsServerCredentials(pki->localhost()));
  const grpc::Status st = CallGetState(OptionsFor("localhost", server, pki->ca_file()));
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(CallGetState(OptionsFor("localhost", server, other->ca_file())).ok())
      << "another CA does not vouch for this server";
}

TEST(GrpcChannelTest, ServerNameOverrideChecksThatNameInTheCertificate) {
  std::unique_ptr<TestPki> pki = MakePki();
  ASSERT_NE(pki, nullptr);
  FakeAdminServer server(TlsServerCredentials(pki->wrong_host()));
  GrpcChannelOptions o = OptionsFor("127.0.0.1", server, pki->ca_file());
  EXPECT_FALSE(CallGetState(o).ok()) << "the certificate is for wrong.example";
  o.tls_server_name = "wrong.example";
  const grpc::Status st = CallGetState(o);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST(GrpcChannelTest, ClientCertificateForMutualTls) {
  std::unique_ptr<TestPki> pki = MakePki();
  ASSERT_NE(pki, nullptr);
  FakeAdminServer server(TlsServerCredentials(pki->localhost(), pki->ca_file()));
  GrpcChannelOptions o = OptionsFor("localhost", server, pki->ca_file());
  EXPECT_FALSE(CallGetState(o).ok()) << "the server requires a client certificate";
  o.tls_cert_file = pki->localhost().cert_file;
  o.tls_key_file = pki->localhost().key_file;
  const grpc::Status st = CallGetState(o);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST(GrpcChannelTest, FactoryReadsFilesOnceAndMakesFreshChannels) {
  FakeAdminServer server(grpc::InsecureServerCredentials());
  TempDir dir;
  GrpcChannelOptions o = OptionsFor("127.0.0.1", server);
  o.token_file = dir.WriteFile("token", "first-token\n");
  o.own_subchannel = true;
  auto factory = MakeGrpcChannelFactory(o);
  ASSERT_TRUE(factory.ok()) << factory.status();
  dir.WriteFile("token", "second-token\n");
  const std::shared_ptr<grpc::Channel> a = (*factory)();
  const std::shared_ptr<grpc::Channel> b = (*factory)();
  EXPECT_NE(a, b);
  ASSERT_TRUE(CallGetState(b).ok());
  EXPECT_EQ(server.Authorization(), "Bearer first-token");
}

TEST(GrpcChannelTest, ErrorsNeverCarryTheToken) {
  TempDir dir;
  GrpcChannelOptions o;
  o.target = "10.0.0.1:8788";
  o.token_file = dir.WriteFile("token", "do-not-print-me\n");
  auto refused = CreateGrpcChannel(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr("do-not-print-me")));
}

}  // namespace
}  // namespace ccrelay::common
