#include "controlplane/config/value_checks.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ccrelay::controlplane {
namespace {

using ::testing::HasSubstr;

TEST(ConfigValueChecksTest, ListenAccepted) {
  for (const char* ok : {"127.0.0.1:8787", "0.0.0.0:0", "localhost:65535", "[::1]:8787", "[::]:1",
                         "relay.internal:80"}) {
    EXPECT_TRUE(CheckListen(ok).ok()) << ok;
  }
}

TEST(ConfigValueChecksTest, ListenRejected) {
  EXPECT_THAT(CheckListen("").message(), HasSubstr("must not be empty"));
  EXPECT_THAT(CheckListen("127.0.0.1").message(), HasSubstr("missing port"));
  EXPECT_THAT(CheckListen(":8787").message(), HasSubstr("missing host"));
  EXPECT_THAT(CheckListen("::1:8787").message(), HasSubstr("IPv6 address must be in brackets"));
  EXPECT_THAT(CheckListen("[::1]8787").message(), HasSubstr("expected \":port\""));
  EXPECT_THAT(CheckListen("[::1:8787").message(), HasSubstr("missing \"]\""));
  EXPECT_THAT(CheckListen("[nope]:1").message(), HasSubstr("invalid IPv6"));
  EXPECT_THAT(CheckListen("host:65536").message(), HasSubstr("invalid port"));
  EXPECT_THAT(CheckListen("host:http").message(), HasSubstr("invalid port"));
  EXPECT_THAT(CheckListen("host:").message(), HasSubstr("invalid port"));
  EXPECT_THAT(CheckListen("ho st:1").message(), HasSubstr("invalid host"));
}

TEST(ConfigValueChecksTest, BaseUrlNormalised) {
  EXPECT_EQ(*NormalizeBaseUrl("https://api.anthropic.com"), "https://api.anthropic.com");
  EXPECT_EQ(*NormalizeBaseUrl("https://api.z.ai/api/anthropic/"), "https://api.z.ai/api/anthropic");
  EXPECT_EQ(*NormalizeBaseUrl("HTTP://localhost:11434//"), "http://localhost:11434");
  EXPECT_EQ(*NormalizeBaseUrl("http://[::1]:8080/p"), "http://[::1]:8080/p");
}

TEST(ConfigValueChecksTest, BaseUrlRejected) {
  EXPECT_THAT(NormalizeBaseUrl("").status().message(), HasSubstr("must not be empty"));
  EXPECT_THAT(NormalizeBaseUrl("ftp://x").status().message(), HasSubstr("http:// or https://"));
  EXPECT_THAT(NormalizeBaseUrl("api.anthropic.com").status().message(),
              HasSubstr("http:// or https://"));
  EXPECT_THAT(NormalizeBaseUrl("https://").status().message(), HasSubstr("no host"));
  EXPECT_THAT(NormalizeBaseUrl("https:///path").status().message(), HasSubstr("no host"));
  EXPECT_THAT(NormalizeBaseUrl("https://u:p@host").status().message(), HasSubstr("credentials"));
  EXPECT_THAT(NormalizeBaseUrl("https://host/?a=b").status().message(), HasSubstr("query"));
  EXPECT_THAT(NormalizeBaseUrl("https://host:0").status().message(), HasSubstr("invalid port"));
  EXPECT_THAT(NormalizeBaseUrl("https://ho st").status().message(), HasSubstr("spaces"));
}

TEST(ConfigValueChecksTest, SecretText) {
  EXPECT_TRUE(CheckSecretText("sk-ant-abc").ok());
  EXPECT_FALSE(CheckSecretText("sk-ant\n").ok());
  EXPECT_FALSE(CheckSecretText(" sk").ok());
  EXPECT_FALSE(CheckSecretText("sk ").ok());
}

TEST(ConfigValueChecksTest, ProviderName) {
  EXPECT_TRUE(IsValidProviderName("anthropic-primary.v2_x"));
  EXPECT_TRUE(IsValidProviderName(std::string(64, 'a')));
  EXPECT_FALSE(IsValidProviderName(std::string(65, 'a')));
  EXPECT_FALSE(IsValidProviderName(""));
  EXPECT_FALSE(IsValidProviderName("a b"));
  EXPECT_FALSE(IsValidProviderName("a/b"));
}

TEST(ConfigValueChecksTest, CaFile) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "ccr_ca_test";
  std::filesystem::create_directories(dir);
  const std::filesystem::path good = dir / "good.pem";
  const std::filesystem::path bad = dir / "bad.pem";
  std::ofstream(good) << "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  std::ofstream(bad) << "not a certificate\n";
  EXPECT_TRUE(CheckCaFile(good.string()).ok());
  EXPECT_THAT(CheckCaFile(bad.string()).message(), HasSubstr("no PEM certificate"));
  EXPECT_THAT(CheckCaFile((dir / "missing.pem").string()).message(), HasSubstr("not found"));
  EXPECT_THAT(CheckCaFile(dir.string()).message(), HasSubstr("not a regular file"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ccrelay::controlplane
