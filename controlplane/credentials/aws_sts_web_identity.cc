#include "controlplane/credentials/aws_sts_web_identity.h"

#include <array>
#include <string_view>
#include <utility>

#include "dataplane/common/status_macros.h"
#include "dataplane/common/str.h"
#include "dataplane/common/token_file.h"

namespace ccrelay::controlplane::aws {
namespace {

using common::StrCat;

constexpr size_t kMaxMessageChars = 300;

std::string DecodeEntities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    if (s.front() != '&') {
      out.push_back(s.front());
      s.remove_prefix(1);
      continue;
    }
    static constexpr std::array<std::pair<std::string_view, char>, 5> kEntities = {
        {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}}};
    bool done = false;
    for (const auto& [entity, c] : kEntities) {
      if (s.starts_with(entity)) {
        out.push_back(c);
        s.remove_prefix(entity.size());
        done = true;
        break;
      }
    }
    if (!done) {
      out.push_back('&');
      s.remove_prefix(1);
    }
  }
  return out;
}

std::string Truncate(std::string s) {
  if (s.size() > kMaxMessageChars) {
    s.resize(kMaxMessageChars);
    s += "...";
  }
  return s;
}

}  // namespace

std::optional<std::string> XmlElementText(std::string_view xml, std::string_view name) {
  const std::string open = StrCat("<", name, ">");
  const std::string close = StrCat("</", name, ">");
  const size_t begin = xml.find(open);
  if (begin == std::string_view::npos) {
    return std::nullopt;
  }
  const size_t text_at = begin + open.size();
  const size_t end = xml.find(close, text_at);
  if (end == std::string_view::npos) {
    return std::nullopt;
  }
  return DecodeEntities(common::StripWhitespace(xml.substr(text_at, end - text_at)));
}

absl::StatusOr<AwsCredentials> AssumeRoleWithWebIdentity(const WebIdentityRequest& request,
                                                         const common::Clock& clock) {
  const std::string what = StrCat("STS AssumeRoleWithWebIdentity for role ", request.role_arn);
  if (request.role_arn.empty()) {
    return absl::FailedPreconditionError(
        StrCat("web identity token file ", request.token_file, " is set but no role ARN"));
  }
  // The token: its file's first line, re-read every time. Errors name the path only.
  ASSIGN_OR_RETURN(const std::string token, common::ReadTokenFile(request.token_file));
  const std::string session_name = request.session_name.empty()
                                       ? StrCat("cc-relay-", clock.UnixMillis() / 1000)
                                       : request.session_name;
  HttpFetchRequest fetch;
  fetch.method = "POST";
  fetch.url = request.sts_endpoint;
  fetch.timeouts = request.timeouts;
  fetch.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                   {"Accept", "text/xml"}};
  fetch.body = StrCat(
      "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=", FormEncode(request.role_arn),
      "&RoleSessionName=", FormEncode(session_name), "&WebIdentityToken=", FormEncode(token));
  auto response = HttpFetch(fetch);
  if (!response.ok()) {
    return absl::Status(
        response.status().code(),
        StrCat(what, ": ", Redact(std::string(response.status().message()), {token})));
  }
  if (response->status != 200) {
    const std::string code = XmlElementText(response->body, "Code").value_or("");
    const std::string message = XmlElementText(response->body, "Message").value_or("");
    std::string detail =
        StrCat(what, " (token file ", request.token_file, "): HTTP ", response->status);
    if (!code.empty()) {
      common::StrAppend(&detail, " ", code);
    }
    if (!message.empty()) {
      common::StrAppend(&detail, ": ", Truncate(message));
    }
    detail = Redact(std::move(detail), {token});
    const bool retryable = response->status >= 500 || response->status == 429 ||
                           code == "Throttling" || code == "IDPCommunicationError";
    return retryable ? absl::UnavailableError(detail) : absl::PermissionDeniedError(detail);
  }
  const size_t at = response->body.find("<Credentials>");
  if (at == std::string::npos) {
    return absl::DataLossError(StrCat(what, ": answer without Credentials"));
  }
  const std::string_view raw = std::string_view(response->body).substr(at);
  AwsCredentials out;
  out.access_key_id = XmlElementText(raw, "AccessKeyId").value_or("");
  out.secret_access_key = common::Secret(XmlElementText(raw, "SecretAccessKey").value_or(""));
  out.session_token = common::Secret(XmlElementText(raw, "SessionToken").value_or(""));
  const std::string expiration = XmlElementText(raw, "Expiration").value_or("");
  if (out.access_key_id.empty() || out.secret_access_key.empty() || out.session_token.empty() ||
      expiration.empty()) {
    return absl::DataLossError(
        StrCat(what, ": answer lacks AccessKeyId, SecretAccessKey, SessionToken or Expiration"));
  }
  auto expires = ParseAwsTimestamp(expiration);
  if (!expires.ok()) {
    return absl::DataLossError(StrCat(what, ": Expiration: ", expires.status().message()));
  }
  out.expires_unix_ms = *expires;
  return out;
}

}  // namespace ccrelay::controlplane::aws
