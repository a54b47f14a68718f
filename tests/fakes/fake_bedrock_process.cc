#include "tests/fakes/fake_bedrock_process.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace ccrelay::testing {

namespace {

std::string CredentialsJson(const std::vector<AwsIdentity>& identities,
                            const std::vector<std::string>& api_keys) {
  nlohmann::json j;
  j["sigv4"] = nlohmann::json::array();
  for (const AwsIdentity& id : identities) {
    nlohmann::json e;
    e["access_key_id"] = id.access_key_id;
    e["secret_access_key"] = id.secret_access_key;
    e["session_token"] = id.session_token.empty() ? nlohmann::json() : nlohmann::json(id.session_token);
    j["sigv4"].push_back(e);
  }
  j["api_keys"] = api_keys;
  return j.dump();
}

}  // namespace

FakeBedrock::FakeBedrock(std::vector<AwsIdentity> identities, std::vector<std::string> api_keys,
                         std::vector<std::string> extra_args) {
  credentials_path_ = dir_.WriteFile("credentials.json", CredentialsJson(identities, api_keys));
  request_log_path_ = dir_.path() + "/requests.jsonl";
  std::vector<std::string> args = {CCR_PYTHON,
                                   std::string(CCR_SOURCE_DIR) + "/tests/fakes/fake_bedrock.py",
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--region",
                                   "us-east-1",
                                   "--credentials",
                                   credentials_path_,
                                   "--request-log",
                                   request_log_path_};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  if (!process_.Start(args)) {
    return;
  }
  const auto port =
      process_.WaitForValue("listening 127.0.0.1:", std::chrono::milliseconds(15000));
  if (port.has_value()) {
    port_ = static_cast<uint16_t>(std::stoi(*port));
  }
}

FakeBedrock::~FakeBedrock() { process_.Stop(std::chrono::milliseconds(2000)); }

void FakeBedrock::SetCredentials(const std::vector<AwsIdentity>& identities,
                                 const std::vector<std::string>& api_keys) {
  // Written aside and renamed: the fake never reads half a file.
  const std::string tmp = dir_.WriteFile("credentials.json.tmp",
                                         CredentialsJson(identities, api_keys));
  std::rename(tmp.c_str(), credentials_path_.c_str());
}

std::vector<nlohmann::json> FakeBedrock::Requests() const {
  std::vector<nlohmann::json> out;
  std::ifstream in(request_log_path_);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      continue;
    }
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("operation", "") == "Control") {
      continue;  // the test's own /__fake/ calls
    }
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace ccrelay::testing
