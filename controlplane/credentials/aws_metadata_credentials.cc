#include "controlplane/credentials/aws_metadata_credentials.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "dataplane/common/str.h"
#include "dataplane/upstream/upstream_url.h"

namespace ccrelay::controlplane::aws {
namespace {

using common::StrCat;

constexpr size_t kMaxMessageChars = 200;

std::string StringField(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "code: message" of a JSON error body ({"code":…,"message":…} or {"Code":…,"Message":…}),
// "" for anything else.
std::string JsonErrorDetail(const std::string& body) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return "";
  }
  std::string code = StringField(j, "code");
  if (code.empty()) {
    code = StringField(j, "Code");
  }
  std::string message = StringField(j, "message");
  if (message.empty()) {
    message = StringField(j, "Message");
  }
  if (message.size() > kMaxMessageChars) {
    message.resize(kMaxMessageChars);
    message += "...";
  }
  if (code.empty() || message.empty()) {
    return code + message;
  }
  return StrCat(code, ": ", message);
}

std::string StatusLine(std::string_view what, int status, const std::string& body) {
  const std::string detail = JsonErrorDetail(body);
  return detail.empty() ? StrCat(what, ": HTTP ", status)
                        : StrCat(what, ": HTTP ", status, " ", detail);
}

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') {
    s.pop_back();
  }
  return s;
}

}  // namespace

absl::StatusOr<AwsCredentials> ParseMetadataCredentials(std::string_view body,
                                                        std::string_view what) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return absl::DataLossError(StrCat(what, ": answer is not a JSON object"));
  }
  const std::string code = StringField(j, "Code");
  if (!code.empty() && code != "Success") {
    return absl::UnavailableError(StrCat(what, ": Code ", code));
  }
  AwsCredentials out;
  out.access_key_id = StringField(j, "AccessKeyId");
  out.secret_access_key = common::Secret(StringField(j, "SecretAccessKey"));
  out.session_token = common::Secret(StringField(j, "Token"));
  if (out.access_key_id.empty() || out.secret_access_key.empty()) {
    return absl::DataLossError(StrCat(what, ": answer lacks AccessKeyId or SecretAccessKey"));
  }
  const std::string expiration = StringField(j, "Expiration");
  if (!expiration.empty()) {
    auto expires = ParseAwsTimestamp(expiration);
    if (!expires.ok()) {
      return absl::DataLossError(StrCat(what, ": Expiration: ", expires.status().message()));
    }
    out.expires_unix_ms = *expires;
  }
  return out;
}

absl::Status CheckContainerUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  const size_t at = url.find_first_of("/?#", scheme_end == std::string::npos ? 0 : scheme_end + 3);
  auto parsed = upstream::ParseUpstreamUrl(std::string_view(url).substr(0, at));
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(StrCat("container credentials URL \"", UrlForMessages(url),
                                             "\": ", parsed.status().message()));
  }
  if (parsed->tls) {
    return absl::OkStatus();
  }
  const std::string& host = parsed->host;
  const bool allowed = host == "localhost" || host.starts_with("127.") || host == "::1" ||
                       host == "169.254.170.2" || host == "169.254.170.23" ||
                       host == "fd00:ec2::23";
  if (!allowed) {
    return absl::InvalidArgumentError(
        StrCat("container credentials URL \"", UrlForMessages(url),
               "\": http:// is allowed only to a loopback address, 169.254.170.2, "
               "169.254.170.23 or fd00:ec2::23"));
  }
  return absl::OkStatus();
}

absl::StatusOr<AwsCredentials> FetchContainerCredentials(const ContainerRequest& request) {
  const std::string what = StrCat("container endpoint ", UrlForMessages(request.url));
  HttpFetchRequest fetch;
  fetch.url = request.url;
  fetch.timeouts = request.timeouts;
  fetch.headers = {{"Accept", "application/json"}};
  if (!request.authorization.empty()) {
    fetch.headers.emplace_back("Authorization", request.authorization);
  }
  auto response = HttpFetch(fetch);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        Redact(std::string(response.status().message()), {request.authorization}));
  }
  if (response->status != 200) {
    std::string line =
        Redact(StatusLine(what, response->status, response->body), {request.authorization});
    if (response->status >= 500 || response->status == 429) {
      return absl::UnavailableError(line);
    }
    return absl::PermissionDeniedError(line);
  }
  return ParseMetadataCredentials(response->body, what);
}

absl::StatusOr<AwsCredentials> FetchInstanceMetadataCredentials(const std::string& endpoint,
                                                                const HttpTimeouts& timeouts) {
  const std::string base = TrimSlash(endpoint);
  const std::string what = StrCat("instance metadata ", base);
  HttpFetchRequest put;
  put.method = "PUT";
  put.url = StrCat(base, "/latest/api/token");
  put.timeouts = timeouts;
  put.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
  auto token = HttpFetch(put);
  if (!token.ok()) {
    if (absl::IsUnavailable(token.status()) || absl::IsDeadlineExceeded(token.status())) {
      return absl::NotFoundError(StrCat(base, " unreachable (", token.status().message(), ")"));
    }
    return token.status();
  }
  if (token->status != 200 || token->body.empty()) {
    return absl::NotFoundError(
        StrCat(base, ": IMDSv2 token request answered HTTP ", token->status));
  }
  // The token authorises metadata reads: a secret like the others (never in a message).
  const std::string imds_token = token->body;
  const auto get = [&](const std::string& path) {
    HttpFetchRequest r;
    r.url = StrCat(base, path);
    r.timeouts = timeouts;
    r.headers = {{"X-aws-ec2-metadata-token", imds_token}};
    return HttpFetch(r);
  };
  const std::string roles_path = "/latest/meta-data/iam/security-credentials/";
  auto roles = get(roles_path);
  if (!roles.ok()) {
    return absl::Status(roles.status().code(),
                        Redact(std::string(roles.status().message()), {imds_token}));
  }
  if (roles->status == 404) {
    return absl::NotFoundError(StrCat(base, ": no IAM role attached to the instance"));
  }
  if (roles->status != 200) {
    return absl::UnavailableError(StrCat(what, ": ", roles_path, ": HTTP ", roles->status));
  }
  std::string_view role = roles->body;
  role = common::StripWhitespace(role.substr(0, role.find('\n')));
  while (!role.empty() && role.back() == '\r') {
    role.remove_suffix(1);
  }
  if (role.empty()) {
    return absl::NotFoundError(StrCat(base, ": no IAM role attached to the instance"));
  }
  const std::string role_path = StrCat(roles_path, role);
  auto credentials = get(role_path);
  if (!credentials.ok()) {
    return absl::Status(credentials.status().code(),
                        Redact(std::string(credentials.status().message()), {imds_token}));
  }
  if (credentials->status != 200) {
    return absl::UnavailableError(StrCat(what, ": ", role_path, ": HTTP ", credentials->status));
  }
  return ParseMetadataCredentials(credentials->body, StrCat(what, " role ", role));
}

}  // namespace ccrelay::controlplane::aws
