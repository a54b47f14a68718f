#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Checks of single config values. Messages never repeat the value itself (the caller decides
// whether it may be echoed), so they are safe for secrets.
namespace ccrelay::controlplane {

// "host:port" with port 0..65535; IPv6 hosts in brackets ("[::1]:8787").
absl::Status CheckListen(std::string_view listen);

// http:// or https:// with a host, optional port and path prefix; no userinfo, query or
// fragment. Returns the URL with a lowercase scheme and trailing '/' removed.
absl::StatusOr<std::string> NormalizeBaseUrl(std::string_view url);

// A credential that will be sent in an HTTP header: no control characters, no surrounding
// whitespace. Emptiness is the caller's business.
absl::Status CheckSecretText(std::string_view secret);

// [A-Za-z0-9._-]{1,64}
bool IsValidProviderName(std::string_view name);

// An existing, readable regular file containing at least one PEM certificate.
absl::Status CheckCaFile(const std::string& path);

// An existing, readable regular file (a credentials file read later).
absl::Status CheckReadableFile(const std::string& path);

}  // namespace ccrelay::controlplane
