#include "tests/fakes/fake_azure_auth.h"

#include <chrono>
#include <cstdio>
#include <fstream>

#include "tests/fakes/http_client.h"

namespace ccrelay::testing {
namespace {

std::string ClientsJson(const std::vector<FakeAzureApp>& apps,
                        const FakeAzureIdentities& identities) {
  nlohmann::json j;
  j["apps"] = nlohmann::json::array();
  for (const FakeAzureApp& app : apps) {
    nlohmann::json a = {{"tenant", app.tenant}, {"client_id", app.client_id}};
    if (!app.secret.empty()) {
      a["secret"] = app.secret;
    }
    if (!app.federated_token_file.empty()) {
      a["federated_token_file"] = app.federated_token_file;
    }
    j["apps"].push_back(std::move(a));
  }
  j["managed_identity"] = {{"system_assigned", identities.system_assigned},
                           {"user_assigned", identities.user_assigned}};
  return j.dump();
}

}  // namespace

FakeAzureAuth::~FakeAzureAuth() { process_.Stop(std::chrono::milliseconds(2000)); }

bool FakeAzureAuth::Start(const std::vector<FakeAzureApp>& apps,
                          const FakeAzureIdentities& identities,
                          const std::vector<std::string>& flags) {
  clients_path_ = dir_.WriteFile("clients.json", ClientsJson(apps, identities));
  tokens_path_ = dir_.path() + "/tokens.json";
  request_log_path_ = dir_.path() + "/requests.jsonl";
  std::vector<std::string> args = {
      CCR_PYTHON,      CCR_SOURCE_DIR "/tests/fakes/fake_azure_auth.py",
      "--listen",      "127.0.0.1:0",
      "--clients",     clients_path_,
      "--tokens-file", tokens_path_,
      "--request-log", request_log_path_};
  args.insert(args.end(), flags.begin(), flags.end());
  if (!process_.Start(args)) {
    error_ = process_.error();
    return false;
  }
  const auto port = process_.WaitForValue("listening 127.0.0.1:", std::chrono::seconds(15));
  if (!port.has_value()) {
    error_ = "fake_azure_auth.py did not say it was listening: " + process_.log();
    return false;
  }
  port_ = static_cast<uint16_t>(std::stoi(*port));
  return true;
}

std::string FakeAzureAuth::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void FakeAzureAuth::SetClients(const std::vector<FakeAzureApp>& apps,
                               const FakeAzureIdentities& identities) {
  // Written aside and renamed: the fake never reads half a file.
  const std::string tmp = dir_.WriteFile("clients.json.tmp", ClientsJson(apps, identities));
  std::rename(tmp.c_str(), clients_path_.c_str());
}

bool FakeAzureAuth::Control(const std::string& method, const std::string& target) const {
  const HttpResponse r = Fetch(port_, method, target, {}, {}, std::chrono::seconds(5));
  return r.status == 200;
}

bool FakeAzureAuth::FailNext(int status, int n, const std::string& extra_query) {
  std::string target =
      "/__fake/fail-next?status=" + std::to_string(status) + "&n=" + std::to_string(n);
  if (!extra_query.empty()) {
    target += "&" + extra_query;
  }
  return Control("POST", target);
}

bool FakeAzureAuth::Set(const std::string& query) {
  return Control("POST", "/__fake/set?" + query);
}

bool FakeAzureAuth::Reset() { return Control("POST", "/__fake/reset"); }

nlohmann::json FakeAzureAuth::Stats() const {
  const HttpResponse r = Fetch(port_, "GET", "/__fake/stats", {}, {}, std::chrono::seconds(5));
  if (r.status != 200) {
    return nullptr;
  }
  return nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
}

std::vector<nlohmann::json> FakeAzureAuth::Requests() const {
  std::vector<nlohmann::json> out;
  std::ifstream in(request_log_path_);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.value("route", "") != "control") {
      out.push_back(std::move(j));
    }
  }
  return out;
}

nlohmann::json FakeAzureAuth::Tokens() const {
  const nlohmann::json j =
      nlohmann::json::parse(ReadFileOrEmpty(tokens_path_), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("tokens")) {
    return nlohmann::json::object();
  }
  return j["tokens"];
}

}  // namespace ccrelay::testing
