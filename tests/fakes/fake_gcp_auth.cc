#include "tests/fakes/fake_gcp_auth.h"

#include <chrono>
#include <cstdio>
#include <fstream>

#include "tests/fakes/http_client.h"

namespace ccrelay::testing {
namespace {

std::string AccountsJson(const std::vector<GcpServiceAccount>& accounts,
                         const std::vector<GcpAuthorizedUser>& users) {
  nlohmann::json j;
  j["service_accounts"] = nlohmann::json::array();
  for (const GcpServiceAccount& a : accounts) {
    j["service_accounts"].push_back(
        {{"client_email", a.client_email},
         {"keys", {{{"kid", a.private_key_id}, {"public_key", a.public_key_pem}}}}});
  }
  j["authorized_users"] = nlohmann::json::array();
  for (const GcpAuthorizedUser& u : users) {
    j["authorized_users"].push_back({{"client_id", u.client_id},
                                     {"client_secret", u.client_secret},
                                     {"refresh_token", u.refresh_token}});
  }
  return j.dump(2);
}

}  // namespace

std::string ServiceAccountFileJson(const GcpServiceAccount& account,
                                   const std::string& private_key_pem,
                                   const std::string& token_uri) {
  const std::string& email = account.client_email;
  const size_t at = email.find('@');
  const size_t dot = email.find('.', at);
  nlohmann::json j = {
      {"type", "service_account"},
      {"project_id", at == std::string::npos ? "test-project" : email.substr(at + 1, dot - at - 1)},
      {"private_key_id", account.private_key_id},
      {"private_key", private_key_pem},
      {"client_email", email},
      {"client_id", "100000000000000000001"},
      {"auth_uri", "https://accounts.google.com/o/oauth2/auth"},
      {"universe_domain", "googleapis.com"}};
  if (!token_uri.empty()) {
    j["token_uri"] = token_uri;
  }
  return j.dump(2);
}

std::string AuthorizedUserFileJson(const GcpAuthorizedUser& user, const std::string& token_uri) {
  nlohmann::json j = {{"type", "authorized_user"},
                      {"client_id", user.client_id},
                      {"client_secret", user.client_secret},
                      {"refresh_token", user.refresh_token},
                      {"quota_project_id", "test-project"}};
  if (!token_uri.empty()) {
    j["token_uri"] = token_uri;
  }
  return j.dump(2);
}

FakeGcpAuth::FakeGcpAuth(std::vector<GcpServiceAccount> accounts,
                         std::vector<GcpAuthorizedUser> users,
                         std::vector<std::string> extra_args) {
  accounts_path_ = dir_.WriteFile("accounts.json", AccountsJson(accounts, users));
  tokens_path_ = dir_.path() + "/tokens.json";
  request_log_path_ = dir_.path() + "/requests.jsonl";
  std::vector<std::string> args = {
      CCR_PYTHON,      std::string(CCR_SOURCE_DIR) + "/tests/fakes/fake_gcp_auth.py",
      "--listen",      "127.0.0.1:0",
      "--accounts",    accounts_path_,
      "--tokens-file", tokens_path_,
      "--request-log", request_log_path_};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  if (!process_.Start(args)) {
    return;
  }
  const auto port = process_.WaitForValue("listening 127.0.0.1:", std::chrono::milliseconds(15000));
  if (port.has_value()) {
    port_ = static_cast<uint16_t>(std::stoi(*port));
  }
}

FakeGcpAuth::~FakeGcpAuth() { process_.Stop(std::chrono::milliseconds(2000)); }

void FakeGcpAuth::SetAccounts(const std::vector<GcpServiceAccount>& accounts,
                              const std::vector<GcpAuthorizedUser>& users) {
  // Written aside and renamed: the fake never reads half a file.
  const std::string tmp = dir_.WriteFile("accounts.json.tmp", AccountsJson(accounts, users));
  std::rename(tmp.c_str(), accounts_path_.c_str());
}

bool FakeGcpAuth::Control(const std::string& method, const std::string& target) const {
  const HttpResponse r = Fetch(port_, method, target, {}, {}, std::chrono::seconds(5));
  return r.status == 200;
}

bool FakeGcpAuth::FailNext(const std::string& query) {
  return Control("POST", "/__fake/fail-next?" + query);
}

bool FakeGcpAuth::Set(const std::string& query) { return Control("POST", "/__fake/set?" + query); }

bool FakeGcpAuth::Reset() { return Control("POST", "/__fake/reset"); }

nlohmann::json FakeGcpAuth::Stats() const {
  const HttpResponse r = Fetch(port_, "GET", "/__fake/stats", {}, {}, std::chrono::seconds(5));
  if (r.status != 200) {
    return nullptr;
  }
  return nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
}

std::vector<nlohmann::json> FakeGcpAuth::Requests() const {
  std::vector<nlohmann::json> out;
  std::ifstream in(request_log_path_);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) {
      out.push_back(nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false));
    }
  }
  return out;
}

nlohmann::json FakeGcpAuth::IssuedTokens() const {
  const nlohmann::json j =
      nlohmann::json::parse(ReadFileOrEmpty(tokens_path_), nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains("tokens") ? j["tokens"] : nlohmann::json::array();
}

}  // namespace ccrelay::testing
