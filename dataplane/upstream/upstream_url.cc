#include "dataplane/upstream/upstream_url.h"

#include "dataplane/common/str.h"

namespace ccrelay::upstream {

absl::StatusOr<UpstreamUrl> ParseUpstreamUrl(std::string_view url) {
  UpstreamUrl out;
  std::string_view rest = url;
  if (common::ConsumePrefix(&rest, "https://")) {
    out.tls = true;
  } else if (common::ConsumePrefix(&rest, "http://")) {
    out.tls = false;
  } else {
    return absl::InvalidArgumentError(
        common::StrCat("base_url \"", url, "\": must start with http:// or https://"));
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (common::ConsumeSuffix(&path, "/")) {
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        common::StrCat("base_url \"", url, "\": must not have a query or fragment"));
  }
  std::string_view host = authority;
  std::string_view port;
  if (std::string_view(authority).starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(common::StrCat("base_url \"", url, "\": bad IPv6 host"));
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (common::ConsumePrefix(&after, ":")) {
      port = after;
    } else if (!after.empty()) {
      return absl::InvalidArgumentError(common::StrCat("base_url \"", url, "\": bad host"));
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(common::StrCat("base_url \"", url, "\": missing host"));
  }
  uint32_t port_num = out.tls ? 443 : 80;
  if (!port.empty() && (!common::ParseUint(port, &port_num) || port_num == 0 || port_num > 65535)) {
    return absl::InvalidArgumentError(common::StrCat("base_url \"", url, "\": bad port"));
  }
  const bool default_port = port_num == (out.tls ? 443u : 80u);
  out.host = common::ToLower(host);
  out.port = common::StrCat(port_num);
  const bool v6 = out.host.find(':') != std::string::npos;
  const std::string host_part = v6 ? common::StrCat("[", out.host, "]") : out.host;
  out.host_header = default_port ? host_part : common::StrCat(host_part, ":", port_num);
  out.path_prefix = std::string(path);
  out.pool_key = common::StrCat(out.tls ? "https://" : "http://", host_part, ":", port_num);
  return out;
}

}  // namespace ccrelay::upstream
