#include "controlplane/stats/metrics_http_server.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/fakes/test_ca.h"

namespace ccrelay::controlplane {
namespace {

using ::testing::HasSubstr;

int Connect(const std::string& address) {
  const size_t colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  return fd;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) {
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string Exchange(const std::string& address, const std::string& request) {
  const int fd = Connect(address);
  EXPECT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string out = ReadAll(fd);
  ::close(fd);
  return out;
}

TEST(MetricsHttpServerTest, ParseHead) {
  HttpRequest req;
  ASSERT_TRUE(MetricsHttpServer::ParseHead(
      "POST /ui/api/X?a=1 HTTP/1.1\r\nHost: h:1\r\nX-Csrf-Token:  t \r\n\r\n", &req));
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/ui/api/X");
  EXPECT_EQ(req.query, "a=1");
  EXPECT_EQ(req.Header("host"), "h:1");
  EXPECT_EQ(req.Header("x-csrf-token"), "t");
  EXPECT_EQ(req.Header("cookie"), "");
  EXPECT_FALSE(MetricsHttpServer::ParseHead("GARBAGE\r\n\r\n", &req));
}

TEST(MetricsHttpServerTest, RoutesGetBodiesAndStreamsDoNotBlockOthers) {
  std::atomic<bool> streaming{false};
  auto server = MetricsHttpServer::Start(
      "127.0.0.1:0", [] { return std::string("m 1\n"); },
      [&streaming](const HttpRequest& req, HttpResponder& out) {
        if (req.path == "/echo") {
          out.Send("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + req.body + "|" +
                   (req.loopback ? "loopback" : "remote"));
          return true;
        }
        if (req.path == "/stream") {
          out.Send("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n");
          streaming = true;
          while (!out.Closed()) {
            out.Send("data: x\n\n");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
          return true;
        }
        return false;
      });
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();
  EXPECT_THAT(Exchange(address, "POST /echo HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello"),
              HasSubstr("\r\n\r\nhello|loopback"));
  EXPECT_THAT(Exchange(address, "POST /echo HTTP/1.1\r\ncontent-length: 99999999\r\n\r\n"),
              HasSubstr("413"));
  // A stream stays open while /metrics and /health answer.
  const int stream = Connect(address);
  const std::string get = "GET /stream HTTP/1.1\r\n\r\n";
  ASSERT_EQ(::send(stream, get.data(), get.size(), 0), static_cast<ssize_t>(get.size()));
  for (int i = 0; i < 200 && !streaming; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(streaming);
  EXPECT_THAT(Exchange(address, "GET /health HTTP/1.1\r\n\r\n"), HasSubstr("200 OK"));
  EXPECT_THAT(Exchange(address, "GET /metrics HTTP/1.1\r\n\r\n"), HasSubstr("m 1\n"));
  EXPECT_THAT(Exchange(address, "GET /other HTTP/1.1\r\n\r\n"), HasSubstr("404"));
  // Stopping the server ends the stream.
  server->reset();
  EXPECT_THAT(ReadAll(stream), HasSubstr("data: x"));
  ::close(stream);
}

// One request over TLS (the test CA trusted, host name "localhost" verified); "" if the handshake
// fails.
std::string TlsExchange(const std::string& address, const std::string& ca_file,
                        const std::string& request) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  const int fd = Connect(address);
  SSL_set_fd(ssl, fd);
  SSL_set1_host(ssl, "localhost");
  std::string out;
  if (SSL_connect(ssl) == 1) {
    SSL_write(ssl, request.data(), static_cast<int>(request.size()));
    char buf[4096];
    for (int n; (n = SSL_read(ssl, buf, sizeof(buf))) > 0;) {
      out.append(buf, static_cast<size_t>(n));
    }
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return out;
}

TEST(MetricsHttpServerTest, ServesOnlyHttpsWithTls) {
  std::string error;
  std::unique_ptr<testing::TestPki> pki = testing::TestPki::Create(&error);
  ASSERT_NE(pki, nullptr) << error;
  auto server = MetricsHttpServer::Start(
      "127.0.0.1:0", [] { return std::string("m 1\n"); },
      [](const HttpRequest& req, HttpResponder& out) {
        if (req.path != "/who") {
          return false;
        }
        out.Send("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + req.peer + "|" +
                 (req.tls ? "tls" : "plain") + "|" + (req.loopback ? "loopback" : "remote"));
        return true;
      },
      {pki->localhost().cert_file, pki->localhost().key_file});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE((*server)->tls());
  const std::string address = (*server)->address();
  EXPECT_THAT(TlsExchange(address, pki->ca_file(), "GET /health HTTP/1.1\r\n\r\n"),
              HasSubstr("{\"status\":\"ok\"}"));
  const std::string head = TlsExchange(address, pki->ca_file(), "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_THAT(head, HasSubstr("content-length: 4\r\n"));
  EXPECT_THAT(head, ::testing::EndsWith("\r\n\r\n"));
  EXPECT_THAT(TlsExchange(address, pki->ca_file(), "GET /who HTTP/1.1\r\n\r\n"),
              HasSubstr("\r\n\r\n127.0.0.1|tls|loopback"));
  // Plaintext gets no HTTP answer (its handshake fails), and the server goes on.
  EXPECT_THAT(Exchange(address, "GET /health HTTP/1.1\r\n\r\n"),
              ::testing::Not(HasSubstr("HTTP/1.1")));
  EXPECT_THAT(TlsExchange(address, pki->ca_file(), "GET /health HTTP/1.1\r\n\r\n"),
              HasSubstr("200 OK"));
}

TEST(MetricsHttpServerTest, TlsFilesAreCheckedAtStart) {
  std::string error;
  std::unique_ptr<testing::TestPki> pki = testing::TestPki::Create(&error);
  ASSERT_NE(pki, nullptr) << error;
  const auto render = [] { return std::string(); };
  auto missing = MetricsHttpServer::Start("127.0.0.1:0", render, nullptr,
                                          {"/nonexistent/cert.pem", pki->localhost().key_file});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/cert.pem"));
  // A certificate as the key, a key that is not the certificate's.
  auto not_a_key = MetricsHttpServer::Start("127.0.0.1:0", render, nullptr,
                                            {pki->localhost().cert_file, pki->ca_file()});
  EXPECT_EQ(not_a_key.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(not_a_key.status().message(), HasSubstr(pki->ca_file()));
  auto mismatch = MetricsHttpServer::Start(
      "127.0.0.1:0", render, nullptr, {pki->localhost().cert_file, pki->wrong_host().key_file});
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(mismatch.status().message(), HasSubstr(pki->wrong_host().key_file));
  auto half =
      MetricsHttpServer::Start("127.0.0.1:0", render, nullptr, {pki->localhost().cert_file, ""});
  EXPECT_EQ(half.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ccrelay::controlplane
