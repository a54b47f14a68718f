#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "dataplane/common/secret.h"

namespace ccrelay::controlplane::aws {

// The process environment as the credential code sees it: the value of a variable, nullopt when
// unset. Injected so that tests pass a map; an empty value counts as unset everywhere.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// getenv (the process must not setenv while the credential threads run).
EnvLookup ProcessEnvironment();
// A fixed environment (tests).
EnvLookup MapEnvironment(std::map<std::string, std::string> vars);

// Where a set of credentials came from; decides how the refresher renews them.
enum class AwsCredentialKind {
  kEnvironment,       // AWS_ACCESS_KEY_ID & co.: never re-read
  kWebIdentity,       // STS AssumeRoleWithWebIdentity (environment)
  kProfile,           // the shared files (keys, or a web identity profile): re-read periodically
  kContainer,         // ECS / EKS Pod Identity endpoint
  kInstanceMetadata,  // EC2 IMDSv2
};

// One resolved set of AWS credentials. The secret parts are Secrets: they cannot be logged.
struct AwsCredentials {
  std::string access_key_id;  // not secret by itself; log it as a fingerprint anyway
  common::Secret secret_access_key;
  common::Secret session_token;  // empty for long-term keys
  int64_t expires_unix_ms = 0;   // 0: does not expire
  AwsCredentialKind kind = AwsCredentialKind::kEnvironment;
  // "environment" | "web identity" | "profile <name>" | "container" | "instance metadata"
  std::string source;
};

// Same key, secret, token and expiry.
bool SameCredentials(const AwsCredentials& a, const AwsCredentials& b);

// An AWS timestamp: ISO-8601 "2019-11-09T13:34:41Z", with optional fractional seconds and a
// "Z" or "+hh:mm"/"-hh:mm" offset, as STS, IMDS and the container endpoints write it. Returns
// Unix milliseconds; kInvalidArgument names the text (a timestamp is no secret).
absl::StatusOr<int64_t> ParseAwsTimestamp(std::string_view text);

// `text` with every occurrence of each non-empty `secrets` value replaced by
// "<redacted:FINGERPRINT>": for messages built from what a remote endpoint said, which may echo
// what was sent.
std::string Redact(std::string text, std::initializer_list<std::string_view> secrets);

}  // namespace ccrelay::controlplane::aws
