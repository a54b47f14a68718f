#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ccrelay::upstream {

// An upstream base URL, parsed once.
struct UpstreamUrl {
  bool tls = false;
  std::string host;         // without brackets for IPv6
  std::string port;         // numeric string
  std::string host_header;  // value for Host: (port omitted when default)
  std::string path_prefix;  // "" or "/api/anthropic" (no trailing slash)
  // Connection pool key (scheme, host, port, CA file).
  std::string pool_key;
};

// Parses "http[s]://host[:port][/path]" (no user info, query or fragment); errors name the URL.
absl::StatusOr<UpstreamUrl> ParseUpstreamUrl(std::string_view url);

}  // namespace ccrelay::upstream
