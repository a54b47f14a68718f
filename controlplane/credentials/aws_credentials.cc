#include "controlplane/credentials/aws_credentials.h"

#include <cstdlib>
#include <utility>

#include "dataplane/common/str.h"
#include "dataplane/common/timestamps.h"

namespace ccrelay::controlplane::aws {
namespace {

using common::StrCat;

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): no setenv
    if (v == nullptr) {
      return std::nullopt;
    }
    return std::string(v);
  };
}

EnvLookup MapEnvironment(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

bool SameCredentials(const AwsCredentials& a, const AwsCredentials& b) {
  return a.access_key_id == b.access_key_id &&
         a.secret_access_key.Reveal() == b.secret_access_key.Reveal() &&
         a.session_token.Reveal() == b.session_token.Reveal() &&
         a.expires_unix_ms == b.expires_unix_ms;
}

absl::StatusOr<int64_t> ParseAwsTimestamp(std::string_view text) {
  if (std::optional<int64_t> ms = common::ParseRfc3339Ms(common::StripWhitespace(text));
      ms.has_value()) {
    return *ms;
  }
  return absl::InvalidArgumentError(
      StrCat("bad timestamp \"", text, "\" (want ISO-8601 like 2019-11-09T13:34:41Z)"));
}

std::string Redact(std::string text, std::initializer_list<std::string_view> secrets) {
  for (const std::string_view secret : secrets) {
    if (secret.empty()) {
      continue;
    }
    const std::string replacement = StrCat("<redacted:", common::FingerprintOf(secret), ">");
    size_t at = 0;
    while ((at = text.find(secret, at)) != std::string::npos) {
      text.replace(at, secret.size(), replacement);
      at += replacement.size();
    }
  }
  return text;
}

}  // namespace ccrelay::controlplane::aws
