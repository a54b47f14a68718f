#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "dataplane/common/secret.h"

namespace ccrelay::controlplane::gcp {

// A service-account key file (`"type": "service_account"`, as the Cloud console downloads it).
struct ServiceAccountKey {
  std::string client_email;    // the JWT's iss; names the account in messages
  common::Secret private_key;  // PEM (PKCS#8 "BEGIN PRIVATE KEY", or PKCS#1), RSA
  std::string private_key_id;  // the JWT header's kid ("" = none)
  std::string project_id;
  std::string token_uri;  // "" = not in the file
};

// gcloud's user credentials (`"type": "authorized_user"`, what `gcloud auth
// application-default login` writes).
struct AuthorizedUser {
  std::string client_id;  // an OAuth client id: not secret, shown only as a prefix anyway
  common::Secret client_secret;
  common::Secret refresh_token;
  std::string quota_project_id;
  std::string token_uri;  // "" = not in the file
};

// One credentials JSON file, parsed. Exactly one of the two is filled, per `type`.
struct GoogleCredentialsFile {
  enum class Type { kServiceAccount, kAuthorizedUser };
  Type type = Type::kServiceAccount;
  ServiceAccountKey service_account;
  AuthorizedUser authorized_user;
};

// Parses the text of a credentials file; `path` names it in errors. kInvalidArgument for text
// that is not a JSON object, a missing or empty required field (service_account: client_email,
// private_key; authorized_user: client_id, client_secret, refresh_token) or a missing "type";
// kUnimplemented for another type (external_account, impersonated_service_account, ...), naming
// it. Messages name the path and the field, never a value of a secret field.
absl::StatusOr<GoogleCredentialsFile> ParseGoogleCredentialsFile(std::string_view json,
                                                                 std::string_view path);

// Reads and parses `path`. kNotFound when the file does not exist; kPermissionDenied when it
// cannot be read; else as ParseGoogleCredentialsFile.
absl::StatusOr<GoogleCredentialsFile> ReadGoogleCredentialsFile(const std::string& path);

}  // namespace ccrelay::controlplane::gcp
