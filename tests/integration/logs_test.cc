// The per-request log line, in the text format and in JSON (`--log-format json` and
// `logging.format: json`): request id, provider, key fingerprint, model, status, attempts, time
// to first token, duration and tokens, matching what the client saw.
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "dataplane/common/secret.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

constexpr const char* kKey = "sk-logs-test-key-0001";

class LogsTest : public RelayTest {
 protected:
  // Starts the relay, sends one streaming request, returns the client's view of it.
  HttpResponse OneStream(const std::string& yaml, const std::vector<std::string>& args) {
    fake_.SetHandler(StreamScript({}));
    relay_ = std::make_unique<RelayProcess>();
    EXPECT_TRUE(relay_->Start(yaml, args)) << relay_->error() << "\n" << relay_->log();
    HttpResponse r = Post("/v1/messages", MessageBody("claude-test-1", true));
    EXPECT_EQ(r.status, 200);
    return r;
  }

  FakeUpstream fake_;
};

TEST_F(LogsTest, TextRequestLineHasEveryField) {
  const HttpResponse r = OneStream(OneProvider(fake_, {kKey}).ToYaml(), {});
  const std::string id = r.Header("x-cc-relay-request-id").value_or("?");
  ASSERT_TRUE(relay_->WaitForLogLines({" request request_id=" + id}, 1, milliseconds(5000)))
      << relay_->log();
  const std::vector<std::string> lines = relay_->LogLinesWith({" request request_id=" + id});
  ASSERT_EQ(lines.size(), 1u);
  const std::string& line = lines[0];
  const std::vector<std::string> fields = {" info request ",
                                           " provider=a ",
                                           " key=" + common::FingerprintOf(kKey) + " ",
                                           " model=\"claude-test-1\" ",
                                           " stream=true ",
                                           " status=200 ",
                                           " attempts=1 ",
                                           " ttfb_ms=",
                                           " ttft_ms=",
                                           " duration_ms=",
                                           " input_tokens=25 ",
                                           " output_tokens=15 ",
                                           " cache_read_tokens=0 ",
                                           " cache_creation_tokens=0 "};
  for (const std::string& field : fields) {
    EXPECT_NE(line.find(field), std::string::npos) << field << " missing in: " << line;
  }
  EXPECT_EQ(line.find(" ttft_ms=-1 "), std::string::npos) << line;
  EXPECT_EQ(line.find(kKey), std::string::npos);
}

void ExpectJsonRequestLine(const RelayProcess& relay, const std::string& id) {
  const std::vector<std::string> lines = relay.LogLinesWith({"\"request_id\":\"" + id + "\""});
  std::vector<nlohmann::json> requests;
  for (const std::string& line : lines) {
    nlohmann::json j = ParseJson(line);
    ASSERT_TRUE(j.is_object()) << line;
    if (j.value("event", "") == "request") {
      requests.push_back(j);
    }
  }
  ASSERT_EQ(requests.size(), 1u) << relay.log();
  const nlohmann::json& j = requests[0];
  EXPECT_EQ(j.value("level", ""), "info");
  EXPECT_FALSE(j.value("ts", "").empty());
  EXPECT_EQ(j.value("provider", ""), "a");
  EXPECT_EQ(j.value("key", ""), common::FingerprintOf(kKey));
  EXPECT_EQ(j.value("model", ""), "claude-test-1");
  EXPECT_EQ(j.value("status", ""), "200");
  EXPECT_EQ(j.value("attempts", ""), "1");
  EXPECT_EQ(j.value("input_tokens", ""), "25");
  EXPECT_EQ(j.value("output_tokens", ""), "15");
  EXPECT_EQ(j.value("cache_read_tokens", ""), "0");
  EXPECT_EQ(j.value("cache_creation_tokens", ""), "0");
  for (const char* timing : {"ttfb_ms", "ttft_ms", "duration_ms"}) {
    const std::string v = j.value(timing, "");
    ASSERT_FALSE(v.empty()) << timing;
    EXPECT_GE(std::stoll(v), 0) << timing;
  }
  EXPECT_LE(std::stoll(j.value("ttfb_ms", "0")), std::stoll(j.value("ttft_ms", "0")));
  EXPECT_LE(std::stoll(j.value("ttft_ms", "0")), std::stoll(j.value("duration_ms", "0")));
}

TEST_F(LogsTest, JsonRequestLineWithTheFlag) {
  const HttpResponse r = OneStream(OneProvider(fake_, {kKey}).ToYaml(), {"--log-format", "json"});
  const std::string id = r.Header("x-cc-relay-request-id").value_or("?");
  ASSERT_TRUE(relay_->WaitForLogLines({"\"event\":\"request\"", id}, 1, milliseconds(5000)))
      << relay_->log();
  ExpectJsonRequestLine(*relay_, id);
}

TEST_F(LogsTest, JsonRequestLineWithTheConfigKey) {
  const HttpResponse r =
      OneStream(OneProvider(fake_, {kKey}).ToYaml() + "logging:\n  format: json\n", {});
  const std::string id = r.Header("x-cc-relay-request-id").value_or("?");
  ASSERT_TRUE(relay_->WaitForLogLines({"\"event\":\"request\"", id}, 1, milliseconds(5000)))
      << relay_->log();
  ExpectJsonRequestLine(*relay_, id);
  // Every line, from the control plane's first ones on, follows the config's format.
  const std::string log = relay_->log();
  size_t begin = 0;
  while (begin < log.size()) {
    size_t end = log.find('\n', begin);
    if (end == std::string::npos) {
      end = log.size();
    }
    const std::string line = log.substr(begin, end - begin);
    if (!line.empty()) {
      EXPECT_TRUE(ParseJson(line).is_object()) << "not JSON: " << line;
    }
    begin = end + 1;
  }
}

}  // namespace
}  // namespace ccrelay::testing
