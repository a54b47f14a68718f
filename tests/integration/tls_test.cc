// TLS to the upstream: a provider with ca_file trusts the test CA; host-name verification and
// an untrusted CA make the attempt fail (502, or failover to the next provider).
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_fixture.h"
#include "tests/fakes/test_ca.h"

namespace ccrelay::testing {
namespace {

class TlsTest : public RelayTest {
 public:
  void SetUp() override {
    std::string error;
    pki_ = TestPki::Create(&error);
    ASSERT_NE(pki_, nullptr) << error;
  }

  std::unique_ptr<FakeUpstream> TlsFake(const CertFiles& cert) {
    FakeUpstream::Options options;
    options.tls = true;
    options.cert_file = cert.cert_file;
    options.key_file = cert.key_file;
    return std::make_unique<FakeUpstream>(options);
  }

  ProviderSpec TlsProvider(std::string name, const FakeUpstream& fake, bool with_ca = true) {
    ProviderSpec p = ProviderFor(std::move(name), fake, {"sk-prov-tls"});
    if (with_ca) {
      p.ca_file = pki_->ca_file();
    }
    return p;
  }

  std::unique_ptr<TestPki> pki_;
};

TEST_F(TlsTest, UpstreamWithTestCaServesMessagesAndStreams) {
  auto fake = TlsFake(pki_->localhost());
  const std::vector<std::string> events = AnthropicSseEvents(SseOptions{});
  fake->EnqueueHandler(MessageScript());
  fake->EnqueueHandler(StreamScript({.events = events}));
  RelayConfig config;
  config.providers = {TlsProvider("secure", *fake)};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  HttpResponse resp = Post("/v1/messages?beta=true", MessageBody());
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_EQ(resp.body, AnthropicMessageJson("claude-test-1", "Hello"));
  HttpResponse stream = Post("/v1/messages", MessageBody("claude-test-1", true));
  EXPECT_EQ(stream.status, 200) << stream.error << stream.body;
  std::string all;
  for (const auto& e : events) {
    all += e;
  }
  EXPECT_EQ(stream.body, all);
  ASSERT_EQ(fake->request_count(), 2u);
  const RecordedRequest req = fake->requests()[0];
  EXPECT_EQ(req.target, "/v1/messages?beta=true");
  EXPECT_EQ(req.Header("x-api-key"), "sk-prov-tls");
  EXPECT_EQ(req.body, MessageBody());
}

TEST_F(TlsTest, WrongHostNameIsRejectedWith502) {
  auto fake = TlsFake(pki_->wrong_host());
  RelayConfig config;
  config.providers = {TlsProvider("secure", *fake)};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 502) << resp.error << resp.body;
  EXPECT_TRUE(IsAnthropicError(resp.body, "api_error"));
  EXPECT_EQ(fake->request_count(), 0u) << "the request was sent to an unverified host";
}

TEST_F(TlsTest, WrongHostNameFailsOverToTheNextProvider) {
  auto bad = TlsFake(pki_->wrong_host());
  FakeUpstream good;
  RelayConfig config;
  config.providers = {TlsProvider("bad", *bad), ProviderFor("good", good, {"sk-prov-good"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_EQ(resp.Header("x-cc-relay-provider"), "good");
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "2");
  EXPECT_EQ(bad->request_count(), 0u);
  EXPECT_EQ(good.request_count(), 1u);
}

TEST_F(TlsTest, UntrustedCaIsRejected) {
  auto fake = TlsFake(pki_->localhost());
  RelayConfig config;
  config.providers = {TlsProvider("secure", *fake, /*with_ca=*/false)};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 502) << resp.error << resp.body;
  EXPECT_TRUE(IsAnthropicError(resp.body, "api_error"));
  EXPECT_EQ(fake->request_count(), 0u);
}

}  // namespace
}  // namespace ccrelay::testing
