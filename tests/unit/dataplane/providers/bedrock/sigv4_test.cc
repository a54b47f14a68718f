#include "dataplane/providers/bedrock/sigv4.h"

#include <array>
#include <cctype>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ccrelay::providers::bedrock {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kSuiteAccessKey = "AKIDEXAMPLE";
constexpr std::string_view kSuiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr int64_t kSuiteTime = 1440938160;  // 20150830T123600Z
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string HexSha256(std::string_view data) {
  std::array<std::string_view, 1> pieces{data};
  std::array<char, kSha256HexSize> hex;
  Sha256Hex(pieces, hex.data());
  return {hex.data(), hex.size()};
}

std::string CanonicalUri(std::string_view path) {
  std::string out;
  detail::AppendCanonicalUri(path, &out);
  return out;
}

std::string CanonicalQuery(std::string_view query) {
  std::string out;
  detail::AppendCanonicalQuery(query, &out);
  return out;
}

std::string Trimmed(std::string_view value) {
  std::string out;
  detail::AppendTrimmedValue(value, &out);
  return out;
}

std::string AmzDate(int64_t t) {
  std::array<char, 16> out = detail::FormatAmzDate(t);
  return {out.data(), out.size()};
}

// ---------------------------------------------------------------------------------------------
// The AWS test suite (testdata/aws4_testsuite, see its README).

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string StripTrailingNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

// A suite .req file: request line, header lines (a line starting with whitespace continues the
// previous value), then the body after an empty line.
struct SuiteRequest {
  std::string method;
  std::string path;
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

SuiteRequest ParseSuiteRequest(const std::string& raw) {
  SuiteRequest r;
  std::string head = raw;
  size_t blank = raw.find("\n\n");
  if (blank != std::string::npos) {
    head = raw.substr(0, blank);
    r.body = raw.substr(blank + 2);
  }
  std::vector<std::string> lines;
  std::istringstream in(head);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  // The target may hold spaces (normalize-path/get-space): it runs from the first space to the
  // last one.
  const std::string& request_line = lines.at(0);
  size_t first = request_line.find(' ');
  size_t last = request_line.rfind(' ');
  r.method = request_line.substr(0, first);
  std::string target = request_line.substr(first + 1, last - first - 1);
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) {
    r.query = target.substr(q + 1);
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      r.headers.back().second += "\n" + line;
      continue;
    }
    size_t colon = line.find(':');
    r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  return r;
}

class SigV4VectorTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SigV4VectorTest, MatchesCanonicalRequestStringToSignAndAuthorization) {
  const std::string name = GetParam();
  const std::string base = std::string(CCR_SOURCE_DIR) +
                           "/tests/unit/dataplane/providers/bedrock/testdata/aws4_testsuite/" +
                           name + "/" + name.substr(name.rfind('/') + 1);
  const SuiteRequest raw = ParseSuiteRequest(ReadFile(base + ".req"));
  const std::string want_creq = StripTrailingNewlines(ReadFile(base + ".creq"));
  const std::string want_sts = StripTrailingNewlines(ReadFile(base + ".sts"));
  const std::string want_authz = StripTrailingNewlines(ReadFile(base + ".authz"));

  // The signer adds x-amz-date and x-amz-security-token itself: take them out of the headers.
  std::string token;
  std::vector<SignedHeader> headers;
  for (const auto& [n, v] : raw.headers) {
    std::string lower = n;
    for (char& c : lower) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (lower == "x-amz-date") {
      ASSERT_EQ(v, "20150830T123600Z");
    } else if (lower == "x-amz-security-token") {
      token = v;
    } else {
      headers.push_back({n, v});
    }
  }
  // get-vanilla-with-session-token signs a token its .req does not show (botocore's test takes
  // it from the .creq too).
  const std::string creq_token_prefix = "\nx-amz-security-token:";
  if (size_t at = want_creq.find(creq_token_prefix); token.empty() && at != std::string::npos) {
    size_t begin = at + creq_token_prefix.size();
    token = want_creq.substr(begin, want_creq.find('\n', begin) - begin);
  }

  const std::string payload_hash = HexSha256(raw.body);
  SigV4Request req;
  req.method = raw.method;
  req.path = raw.path;
  req.query = raw.query;
  req.headers = headers;
  req.payload_sha256_hex = payload_hash;
  req.unix_seconds = kSuiteTime;
  req.region = "us-east-1";
  req.service = "service";
  req.add_content_sha256 = false;
  SigV4Credentials creds{kSuiteAccessKey, kSuiteSecret, token};

  detail::SigV4Steps steps;
  detail::ComputeSigV4Steps(req, creds, &steps);
  EXPECT_EQ(steps.canonical_request, want_creq);
  EXPECT_EQ(steps.string_to_sign, want_sts);
  EXPECT_EQ(steps.authorization, want_authz);

  std::string head;
  SignV4(req, creds, &head);
  std::string want_head = "X-Amz-Date: 20150830T123600Z\r\n";
  if (!token.empty()) {
    want_head += "X-Amz-Security-Token: " + token + "\r\n";
  }
  want_head += "Authorization: " + want_authz + "\r\n";
  EXPECT_EQ(head, want_head);
}

std::string VectorTestName(const ::testing::TestParamInfo<const char*>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      c = '_';
    }
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(
    SigV4Suite, SigV4VectorTest,
    ::testing::Values("get-header-key-duplicate", "get-header-value-multiline",
                      "get-header-value-order", "get-header-value-trim", "get-unreserved",
                      "get-utf8", "get-vanilla", "get-vanilla-empty-query-key", "get-vanilla-query",
                      "get-vanilla-query-order-encoded", "get-vanilla-query-order-key",
                      "get-vanilla-query-order-key-case", "get-vanilla-query-order-value",
                      "get-vanilla-query-unreserved", "get-vanilla-utf8-query",
                      "get-vanilla-with-session-token", "normalize-path/get-relative",
                      "normalize-path/get-relative-relative", "normalize-path/get-slash",
                      "normalize-path/get-slash-dot-slash",
                      "normalize-path/get-slash-pointless-dot", "normalize-path/get-slashes",
                      "normalize-path/get-space", "normalize-path/get-special-character",
                      "post-header-key-case", "post-header-key-sort", "post-header-value-case",
                      "post-sts-token/post-sts-header-after",
                      "post-sts-token/post-sts-header-before", "post-vanilla",
                      "post-vanilla-empty-query-value", "post-vanilla-query",
                      "post-x-www-form-urlencoded", "post-x-www-form-urlencoded-parameters"),
    VectorTestName);

// ---------------------------------------------------------------------------------------------
// Bedrock requests. Expected signatures were computed with botocore 1.29's SigV4Auth (same
// credentials and time, x-amz-content-sha256 added before signing).

constexpr std::string_view kBedrockBody =
    R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":16,)"
    R"("messages":[{"role":"user","content":"hi"}]})";

class SigV4BedrockTest : public ::testing::Test {
 protected:
  SigV4Request Request(std::string_view host, std::string_view path, std::string_view region) {
    headers_ = {{{"content-type", "application/json"}, {"host", host}}};
    body_hash_ = HexSha256(kBedrockBody);
    SigV4Request req;
    req.method = "POST";
    req.path = path;
    req.headers = headers_;
    req.payload_sha256_hex = body_hash_;
    req.unix_seconds = kSuiteTime;
    req.region = region;
    req.service = "bedrock";
    return req;
  }

  std::array<SignedHeader, 2> headers_;
  std::string body_hash_;
};

// protocols.md 3.5, "Worked Bedrock example".
TEST_F(SigV4BedrockTest, WorkedExampleFromProtocols) {
  SigV4Request req =
      Request("bedrock-runtime.us-east-1.amazonaws.com",
              "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke", "us-east-1");
  SigV4Credentials creds{kSuiteAccessKey, kSuiteSecret, ""};
  EXPECT_EQ(body_hash_, "616eb59224eb795b641b4c541ad9ee8b939a1e8798f73b54fce66bb79ddbb992");

  detail::SigV4Steps steps;
  detail::ComputeSigV4Steps(req, creds, &steps);
  EXPECT_EQ(steps.canonical_request,
            "POST\n"
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke\n"
            "\n"
            "content-type:application/json\n"
            "host:bedrock-runtime.us-east-1.amazonaws.com\n"
            "x-amz-content-sha256:"
            "616eb59224eb795b641b4c541ad9ee8b939a1e8798f73b54fce66bb79ddbb992\n"
            "x-amz-date:20150830T123600Z\n"
            "\n"
            "content-type;host;x-amz-content-sha256;x-amz-date\n"
            "616eb59224eb795b641b4c541ad9ee8b939a1e8798f73b54fce66bb79ddbb992");
  EXPECT_EQ(steps.string_to_sign,
            "AWS4-HMAC-SHA256\n"
            "20150830T123600Z\n"
            "20150830/us-east-1/bedrock/aws4_request\n"
            "ee0ccf6c1ed81be8fb08e0f728630d17479a33902f65e3163c164363aeab850d");

  std::string head = "POST /model/x/invoke HTTP/1.1\r\n";
  SignV4(req, creds, &head);
  EXPECT_EQ(head,
            "POST /model/x/invoke HTTP/1.1\r\n"
            "X-Amz-Date: 20150830T123600Z\r\n"
            "X-Amz-Content-Sha256: "
            "616eb59224eb795b641b4c541ad9ee8b939a1e8798f73b54fce66bb79ddbb992\r\n"
            "Authorization: AWS4-HMAC-SHA256 "
            "Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, "
            "Signature=6ae062302c190074c78c430ea0a2ede07add63d96fec2489743fa51739653259\r\n");
}

// An inference-profile ARN: ':' is sent as is and '/' as %2F (what the SDKs put on the wire);
// both are encoded once more for signing.
TEST_F(SigV4BedrockTest, InferenceProfileArnIsEncodedTwice) {
  SigV4Request req = Request("bedrock-runtime.us-east-2.amazonaws.com",
                             "/model/arn:aws:bedrock:us-east-2:123456789012:inference-profile%2F"
                             "us.anthropic.claude-3-7-sonnet-20250219-v1:0/"
                             "invoke-with-response-stream",
                             "us-east-2");
  SigV4Credentials creds{kSuiteAccessKey, kSuiteSecret, ""};
  detail::SigV4Steps steps;
  detail::ComputeSigV4Steps(req, creds, &steps);
  EXPECT_THAT(steps.canonical_request,
              HasSubstr("\n/model/arn%3Aaws%3Abedrock%3Aus-east-2%3A123456789012%3A"
                        "inference-profile%252Fus.anthropic.claude-3-7-sonnet-20250219-v1%3A0/"
                        "invoke-with-response-stream\n"));
  EXPECT_EQ(steps.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-2/bedrock/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, "
            "Signature=223b2488c80cb9abcaec0e0e828b57cecd426e55153a2c1fa9f4c3bbe2683607");
}

TEST_F(SigV4BedrockTest, SessionTokenIsSentAndSigned) {
  SigV4Request req =
      Request("bedrock-runtime.us-east-1.amazonaws.com",
              "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke", "us-east-1");
  SigV4Credentials creds{"ASIAEXAMPLE", kSuiteSecret, "FwoGZXIvYXdzEXAMPLE//session+token=="};
  std::string head;
  SignV4(req, creds, &head);
  EXPECT_EQ(head,
            "X-Amz-Date: 20150830T123600Z\r\n"
            "X-Amz-Security-Token: FwoGZXIvYXdzEXAMPLE//session+token==\r\n"
            "X-Amz-Content-Sha256: "
            "616eb59224eb795b641b4c541ad9ee8b939a1e8798f73b54fce66bb79ddbb992\r\n"
            "Authorization: AWS4-HMAC-SHA256 "
            "Credential=ASIAEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-security-token, "
            "Signature=b45217579bad5c430a3f684d02a2629ea2c39da03b2f33321b0e49f633c6a6a0\r\n");
  EXPECT_THAT(head, ::testing::Not(HasSubstr(kSuiteSecret)));
}

// Header names are matched in any case and signed in lowercase, sorted.
TEST_F(SigV4BedrockTest, HeaderNamesAreSignedInLowercase) {
  SigV4Request req =
      Request("bedrock-runtime.us-east-1.amazonaws.com",
              "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke", "us-east-1");
  std::array<SignedHeader, 2> mixed{
      {{"Host", "bedrock-runtime.us-east-1.amazonaws.com"}, {"Content-Type", "application/json"}}};
  req.headers = mixed;
  SigV4Credentials creds{kSuiteAccessKey, kSuiteSecret, ""};
  detail::SigV4Steps steps;
  detail::ComputeSigV4Steps(req, creds, &steps);
  EXPECT_THAT(steps.authorization, HasSubstr("Signature=6ae062302c190074c78c430ea0a2ede07add63d9"
                                             "6fec2489743fa51739653259"));
}

// ---------------------------------------------------------------------------------------------
// The signing-key cache.

TEST(SigV4CacheTest, DerivesOncePerSecretDateRegionAndService) {
  std::array<SignedHeader, 1> headers{{{"host", "example.amazonaws.com"}}};
  SigV4Request req;
  req.method = "POST";
  req.path = "/";
  req.headers = headers;
  req.payload_sha256_hex = kEmptySha256;
  req.unix_seconds = kSuiteTime;
  req.region = "us-east-1";
  req.service = "service";
  req.add_content_sha256 = false;
  const SigV4Credentials creds{kSuiteAccessKey, kSuiteSecret, ""};
  // post-vanilla's signature, checked again after the cache has churned.
  constexpr std::string_view kPostVanilla =
      "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b";
  auto sign = [&](const SigV4Request& r, const SigV4Credentials& c) {
    detail::SigV4Steps steps;
    detail::ComputeSigV4Steps(r, c, &steps);
    return steps.authorization;
  };
  auto derived_by = [&](const SigV4Request& r, const SigV4Credentials& c) {
    uint64_t before = detail::SigningKeyDerivationsForTest();
    sign(r, c);
    return detail::SigningKeyDerivationsForTest() - before;
  };

  // Other tests on this thread may have cached post-vanilla's key; whatever was there before
  // is older than the entries made here, so the eviction order below holds.
  EXPECT_THAT(sign(req, creds), HasSubstr(kPostVanilla));
  EXPECT_EQ(derived_by(req, creds), 0u);
  SigV4Request later_same_day = req;
  later_same_day.unix_seconds = kSuiteTime + 3600;
  EXPECT_EQ(derived_by(later_same_day, creds), 0u);

  SigV4Request next_day = req;
  next_day.unix_seconds = kSuiteTime + 86400;
  EXPECT_EQ(derived_by(next_day, creds), 1u);
  EXPECT_EQ(derived_by(next_day, creds), 0u);
  SigV4Request other_region = req;
  other_region.region = "eu-west-1";
  EXPECT_EQ(derived_by(other_region, creds), 1u);
  SigV4Request other_service = req;
  other_service.service = "execute-api";
  EXPECT_EQ(derived_by(other_service, creds), 1u);
  // Four entries are now in use; post-vanilla's is the least recently used.
  EXPECT_EQ(derived_by(req, creds), 0u);
  const SigV4Credentials other_secret{kSuiteAccessKey, "another-secret-key", ""};
  EXPECT_EQ(derived_by(req, other_secret), 1u);  // evicts next_day's
  EXPECT_NE(sign(req, other_secret), sign(req, creds));
  EXPECT_THAT(sign(req, creds), HasSubstr(kPostVanilla));
  EXPECT_EQ(derived_by(next_day, creds), 1u);

  // A different access key id with the same secret shares the key (only the scope differs).
  const SigV4Credentials other_id{"AKIDOTHER", kSuiteSecret, ""};
  EXPECT_EQ(derived_by(req, other_id), 0u);
  EXPECT_THAT(sign(req, other_id), HasSubstr(kPostVanilla));
}

// ---------------------------------------------------------------------------------------------
// The steps.

TEST(SigV4Sha256Test, PiecesHashLikeTheirConcatenation) {
  auto hash = [](std::span<const std::string_view> pieces) {
    std::array<char, kSha256HexSize> hex;
    Sha256Hex(pieces, hex.data());
    return std::string(hex.data(), hex.size());
  };
  EXPECT_EQ(HexSha256(""), kEmptySha256);
  EXPECT_EQ(hash({}), kEmptySha256);

  std::array<std::string_view, 4> abc{"a", "", "b", "c"};
  EXPECT_EQ(hash(abc), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  std::string big;
  for (uint32_t i = 0; i < 300000; ++i) {
    big.push_back(static_cast<char>((i * 7919u) % 251u));
  }
  std::string_view v = big;
  std::array<std::string_view, 4> parts{v.substr(0, 1), v.substr(1, 65535), v.substr(65536, 64),
                                        v.substr(65600)};
  EXPECT_EQ(hash(parts), HexSha256(big));
}

// RFC 4231 test cases 1 (short key), 2 and 6 (key longer than a block, hashed first), and a key
// of exactly one block (Python's hmac).
TEST(SigV4HmacTest, MatchesRfc4231) {
  auto hmac = [](std::string_view key, std::string_view data) {
    static constexpr std::string_view kHex = "0123456789abcdef";
    std::string s;
    for (unsigned char c : detail::HmacSha256(key, data)) {
      s.push_back(kHex[c >> 4]);
      s.push_back(kHex[c & 0xf]);
    }
    return s;
  };
  EXPECT_EQ(hmac(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hmac("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(
      hmac(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First"),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(hmac(std::string(64, 'k'), "exactly one block of key"),
            "baa93ea4ccc7062ed6870c5e7937dbd35ad7791df4e29df9addeb429ff491acf");
}

TEST(SigV4DateTest, FormatsUtc) {
  EXPECT_EQ(AmzDate(0), "19700101T000000Z");
  EXPECT_EQ(AmzDate(kSuiteTime), "20150830T123600Z");
  EXPECT_EQ(AmzDate(1709251199), "20240229T235959Z");
  EXPECT_EQ(AmzDate(-1), "19691231T235959Z");
  EXPECT_EQ(AmzDate(4102444800), "21000101T000000Z");
}

TEST(SigV4CanonicalUriTest, NormalisesAndEncodesAgain) {
  EXPECT_EQ(CanonicalUri(""), "/");
  EXPECT_EQ(CanonicalUri("/"), "/");
  EXPECT_EQ(CanonicalUri("//"), "/");
  EXPECT_EQ(CanonicalUri("/a/./b/../c"), "/a/c");
  EXPECT_EQ(CanonicalUri("/a/b/../../.."), "/");
  EXPECT_EQ(CanonicalUri("//a//b//"), "/a/b/");
  EXPECT_EQ(CanonicalUri("/a/."), "/a");  // botocore's remove_dot_segments keeps no slash here
  EXPECT_EQ(CanonicalUri("/a/b/.."), "/a");
  EXPECT_EQ(CanonicalUri("/%2E%2E/x"), "/%252E%252E/x");  // encoded dots are not dot segments
  EXPECT_EQ(CanonicalUri("/model/a:b%2Fc/invoke"), "/model/a%3Ab%252Fc/invoke");
  EXPECT_EQ(CanonicalUri("/-._~AZaz09 !$&'()*+,;=@\xe1\x88\xb4"),
            "/-._~AZaz09%20%21%24%26%27%28%29%2A%2B%2C%3B%3D%40%E1%88%B4");
}

TEST(SigV4CanonicalQueryTest, DecodesEncodesAndSorts) {
  EXPECT_EQ(CanonicalQuery(""), "");
  EXPECT_EQ(CanonicalQuery("b=2&a=1"), "a=1&b=2");
  EXPECT_EQ(CanonicalQuery("a=2&a=1&a-b=0"), "a=1&a=2&a-b=0");  // name first, then value
  EXPECT_EQ(CanonicalQuery("flag"), "flag=");
  EXPECT_EQ(CanonicalQuery("a=1&&b="), "a=1&b=");
  EXPECT_EQ(CanonicalQuery("q=a%20b&r=%7e%7E~"), "q=a%20b&r=~~~");
  EXPECT_EQ(CanonicalQuery("plus=a+b"), "plus=a%2Bb");
  EXPECT_EQ(CanonicalQuery("eq=a=b"), "eq=a%3Db");
  EXPECT_EQ(CanonicalQuery("bad=%zz%4"), "bad=%25zz%254");
  EXPECT_EQ(CanonicalQuery("u=\xe1\x88\xb4&%E1%88%B4=v"), "%E1%88%B4=v&u=%E1%88%B4");
}

TEST(SigV4TrimTest, TrimsAndCollapsesWhitespace) {
  EXPECT_EQ(Trimmed(""), "");
  EXPECT_EQ(Trimmed("   "), "");
  EXPECT_EQ(Trimmed(" a "), "a");
  EXPECT_EQ(Trimmed("\ta \t  b\r\n  c  "), "a b c");
  EXPECT_EQ(Trimmed("\"a   b   c\""), "\"a b c\"");
}

}  // namespace
}  // namespace ccrelay::providers::bedrock
