#include "tests/fakes/fake_aws_metadata.h"

#include <charconv>
#include <chrono>
#include <string_view>
#include <system_error>

#include "tests/fakes/http_client.h"

namespace ccrelay::testing {

bool FakeAwsMetadata::Start(const std::vector<std::string>& flags) {
  std::vector<std::string> args = {CCR_PYTHON, CCR_SOURCE_DIR "/tests/fakes/fake_aws_metadata.py"};
  args.insert(args.end(), flags.begin(), flags.end());
  if (!process_.Start(args)) {
    error_ = process_.error();
    return false;
  }
  // The first line is the port.
  const bool printed = process_.WaitForText(
      [](std::string_view log) { return log.find('\n') != std::string_view::npos; },
      std::chrono::seconds(15));
  const std::string log = process_.log();
  const std::string first = log.substr(0, log.find('\n'));
  uint32_t port = 0;
  const auto parsed = std::from_chars(first.data(), first.data() + first.size(), port);
  if (!printed || parsed.ec != std::errc() || port == 0 || port > 65535) {
    error_ = "fake_aws_metadata.py did not print its port: " + log;
    return false;
  }
  port_ = static_cast<uint16_t>(port);
  return true;
}

std::string FakeAwsMetadata::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

bool FakeAwsMetadata::Configure(const nlohmann::json& settings) {
  const HttpResponse r = Fetch(port_, "POST", "/control", {{"content-type", "application/json"}},
                               settings.dump(), std::chrono::seconds(5));
  return r.status == 200;
}

nlohmann::json FakeAwsMetadata::Counters() {
  const HttpResponse r = Fetch(port_, "GET", "/control", {}, {}, std::chrono::seconds(5));
  if (r.status != 200) {
    return nullptr;
  }
  return nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
}

}  // namespace ccrelay::testing
