#include "tests/fakes/fake_bedrock_process.h"

#include <chrono>

#include "tests/fakes/python_fake.h"

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
    e["session_token"] =
        id.session_token.empty() ? nlohmann::json() : nlohmann::json(id.session_token);
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
  std::vector<std::string> args = {"--region",        "us-east-1",     "--credentials",
                                   credentials_path_, "--request-log", request_log_path_};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  port_ = StartPythonFake(&process_, "fake_bedrock.py", args);
}

FakeBedrock::~FakeBedrock() { process_.Stop(std::chrono::milliseconds(2000)); }

void FakeBedrock::SetCredentials(const std::vector<AwsIdentity>& identities,
                                 const std::vector<std::string>& api_keys) {
  ReplaceFileAtomically(credentials_path_, CredentialsJson(identities, api_keys));
}

std::vector<nlohmann::json> FakeBedrock::Requests() const {
  return ReadFakeRequestLog(request_log_path_);
}

}  // namespace ccrelay::testing
