#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "dataplane/common/log.h"
#include "dataplane/common/secret.h"
#include "dataplane/common/str.h"

namespace ccrelay::common {
namespace {

// The kept context gives the standard digest (FIPS 180-2 vectors), again and again, and on
// several threads at once (each has its own context).
TEST(SecretTest, Sha256MatchesTheStandardVectorsOnEveryThread) {
  const auto hex = [](std::string_view data) {
    std::string out;
    char buf[3];
    for (unsigned char c : Sha256(data)) {
      std::snprintf(buf, sizeof buf, "%02x", c);
      out += buf;
    }
    return out;
  };
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  const std::string empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const std::string two_blocks =
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
  const std::string two_blocks_input = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(hex("abc"), abc);
  EXPECT_EQ(hex(""), empty);
  EXPECT_EQ(hex(two_blocks_input), two_blocks);
  EXPECT_EQ(hex("abc"), abc);  // the context is reused
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (size_t t = 0; t < wrong.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        wrong[t] += hex(i % 2 == 0 ? "abc" : two_blocks_input) != (i % 2 == 0 ? abc : two_blocks);
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
  EXPECT_EQ(RelayKeySha256("abc").size(), kSha256Bytes);
}

TEST(SecretTest, FingerprintIsShortStableAndNotTheKey) {
  Secret s("sk-ant-api03-abcdefghijklmnop");
  EXPECT_EQ(s.Fingerprint().size(), 8u);
  EXPECT_EQ(s.Fingerprint(), FingerprintOf("sk-ant-api03-abcdefghijklmnop"));
  EXPECT_NE(s.Fingerprint(), FingerprintOf("sk-ant-api03-abcdefghijklmnoq"));
  EXPECT_EQ(std::string(s.Reveal()).find(s.Fingerprint()), std::string::npos);
  EXPECT_TRUE(s.Matches("sk-ant-api03-abcdefghijklmnop"));
  EXPECT_FALSE(s.Matches("sk-ant-api03-abcdefghijklmno"));
  EXPECT_FALSE(s.Matches(""));
  EXPECT_EQ(Secret().Fingerprint(), "");
}

TEST(StrTest, StrCatTakesViewsAndIntegers) {
  std::string_view v = "view";
  EXPECT_EQ(StrCat("a", v, std::string("s"), 42, -7, 'c', true, uint64_t{18446744073709551615u}),
            "aviews42-7ctrue18446744073709551615");
  std::string out = "x";
  StrAppend(&out, "y", 1);
  EXPECT_EQ(out, "xy1");
  EXPECT_EQ(Hex(255), "ff");
  EXPECT_TRUE(EqualsIgnoreCase("Content-Type", "content-type"));
  EXPECT_TRUE(StartsWithIgnoreCase("Text/Event-Stream; charset=utf-8", "text/event-stream"));
  uint32_t n = 0;
  EXPECT_TRUE(ParseUint("8787", &n));
  EXPECT_EQ(n, 8787u);
  EXPECT_FALSE(ParseUint("87a", &n));
  EXPECT_FALSE(ParseUint("", &n));
}

std::vector<std::string>* g_lines = nullptr;
void Capture(std::string_view line) { g_lines->emplace_back(line); }

TEST(LogTest, TextAndJsonLinesAndLevelFilter) {
  std::vector<std::string> lines;
  g_lines = &lines;
  SetLogSinkForTest(&Capture);
  SetLogLevel(LogLevel::kInfo);
  CCR_LOG(kDebug, "hidden", F("a", 1));
  CCR_LOG(kInfo, "shown", F("a", 1), Q("msg", "two words"));
  SetLogFormat(LogFormat::kJson);
  CCR_LOG(kWarn, "json", F("k", "v\"q"));
  SetLogFormat(LogFormat::kText);
  SetLogSinkForTest(nullptr);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(" info shown a=1 msg=\"two words\"\n"), std::string::npos);
  EXPECT_NE(lines[1].find("\"level\":\"warn\",\"event\":\"json\",\"k\":\"v\\\"q\"}"),
            std::string::npos);
}

}  // namespace
}  // namespace ccrelay::common
