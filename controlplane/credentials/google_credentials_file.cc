#include "controlplane/credentials/google_credentials_file.h"

#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "dataplane/common/status_macros.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane::gcp {
namespace {

using common::StrCat;

// Credentials files are small; anything bigger is not one.
constexpr std::streamsize kMaxFileBytes = std::streamsize{1} << 20;

std::string StringField(const nlohmann::json& j, const char* name) {
  const auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The value of a required string field, or an error naming the file and the field (a field of
// another JSON type is reported by its type only: it may hold a secret).
absl::StatusOr<std::string> Required(const nlohmann::json& j, const char* name,
                                     std::string_view what) {
  const auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    return absl::InvalidArgumentError(StrCat(what, ": missing \"", name, "\""));
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        StrCat(what, ": \"", name, "\" is not a string (", it->type_name(), ")"));
  }
  std::string value = it->get<std::string>();
  if (value.empty()) {
    return absl::InvalidArgumentError(StrCat(what, ": \"", name, "\" is empty"));
  }
  return value;
}

}  // namespace

absl::StatusOr<GoogleCredentialsFile> ParseGoogleCredentialsFile(std::string_view json,
                                                                 std::string_view path) {
  const std::string what = StrCat("credentials file ", path);
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(StrCat(what, ": not a JSON object"));
  }
  const std::string type = StringField(j, "type");
  GoogleCredentialsFile out;
  if (type == "service_account") {
    out.type = GoogleCredentialsFile::Type::kServiceAccount;
    ServiceAccountKey& key = out.service_account;
    ASSIGN_OR_RETURN(key.client_email, Required(j, "client_email", what));
    const std::string where = StrCat("service account ", key.client_email, " in ", path);
    ASSIGN_OR_RETURN(std::string pem, Required(j, "private_key", where));
    key.private_key = common::Secret(std::move(pem));
    key.private_key_id = StringField(j, "private_key_id");
    key.project_id = StringField(j, "project_id");
    key.token_uri = StringField(j, "token_uri");
    return out;
  }
  if (type == "authorized_user") {
    out.type = GoogleCredentialsFile::Type::kAuthorizedUser;
    AuthorizedUser& user = out.authorized_user;
    const std::string where = StrCat("authorized_user ", what);
    ASSIGN_OR_RETURN(user.client_id, Required(j, "client_id", where));
    ASSIGN_OR_RETURN(std::string client_secret, Required(j, "client_secret", where));
    user.client_secret = common::Secret(std::move(client_secret));
    ASSIGN_OR_RETURN(std::string refresh_token, Required(j, "refresh_token", where));
    user.refresh_token = common::Secret(std::move(refresh_token));
    user.quota_project_id = StringField(j, "quota_project_id");
    user.token_uri = StringField(j, "token_uri");
    return out;
  }
  if (type.empty()) {
    return absl::InvalidArgumentError(
        StrCat(what, ": no \"type\" (want service_account or authorized_user)"));
  }
  std::string shown = type.substr(0, 60);
  return absl::UnimplementedError(
      StrCat(what, ": credentials of type \"", shown,
             "\" are not supported (supported: service_account, authorized_user)"));
}

absl::StatusOr<GoogleCredentialsFile> ReadGoogleCredentialsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(StrCat("credentials file ", path, " does not exist"));
    }
    return absl::PermissionDeniedError(
        StrCat("credentials file ", path, ": cannot read: ", std::generic_category().message(err)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::PermissionDeniedError(StrCat("credentials file ", path, ": read error"));
  }
  std::string contents = text.str();
  if (static_cast<std::streamsize>(contents.size()) > kMaxFileBytes) {
    return absl::InvalidArgumentError(
        StrCat("credentials file ", path, ": larger than ", kMaxFileBytes, " bytes"));
  }
  return ParseGoogleCredentialsFile(contents, path);
}

}  // namespace ccrelay::controlplane::gcp
