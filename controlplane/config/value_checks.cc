#include "controlplane/config/value_checks.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include <arpa/inet.h>

namespace ccrelay::controlplane {

namespace {

constexpr uintmax_t kMaxCaFileBytes = uintmax_t{16} * 1024 * 1024;

bool IsPort(std::string_view port, bool allow_zero) {
  if (port.empty() || port.size() > 5) {
    return false;
  }
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + (c - '0');
  }
  return value <= 65535 && (allow_zero || value > 0);
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(text[i])) != prefix[i]) {
      return false;
    }
  }
  return true;
}

bool IsHostName(std::string_view host) {
  if (host.empty() || host.size() > 253) {
    return false;
  }
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

bool IsIpv6(std::string_view text) {
  in6_addr addr{};
  return inet_pton(AF_INET6, std::string(text).c_str(), &addr) == 1;
}

// host[:port] or [v6][:port]; port optional when `port_required` is false.
absl::Status CheckHostPort(std::string_view authority, bool port_required, bool allow_port_zero) {
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError("missing \"]\" after an IPv6 address");
    }
    host = authority.substr(1, close - 1);
    if (!IsIpv6(host)) {
      return absl::InvalidArgumentError("invalid IPv6 address in brackets");
    }
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(R"(expected ":port" after "]")");
      }
      has_port = true;
      port = rest.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      has_port = true;
      if (host.find(':') != std::string_view::npos) {
        return absl::InvalidArgumentError(
            "an IPv6 address must be in brackets, e.g. \"[::1]:8787\"");
      }
    } else {
      host = authority;
    }
    if (host.empty()) {
      return absl::InvalidArgumentError("missing host (use 0.0.0.0 to listen on all interfaces)");
    }
    if (!IsHostName(host)) {
      return absl::InvalidArgumentError("invalid host name");
    }
  }
  if (port_required && !has_port) {
    return absl::InvalidArgumentError("missing port (expected host:port, e.g. \"127.0.0.1:8787\")");
  }
  if (has_port && !IsPort(port, allow_port_zero)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid port (expected a number from ",
                                                   allow_port_zero ? "0" : "1", " to 65535)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckListen(std::string_view listen) {
  if (listen.empty()) {
    return absl::InvalidArgumentError(
        "must not be empty (expected host:port, e.g. \"127.0.0.1:8787\")");
  }
  return CheckHostPort(listen, /*port_required=*/true, /*allow_port_zero=*/true);
}

absl::StatusOr<std::string> NormalizeBaseUrl(std::string_view url) {
  if (url.empty()) {
    return absl::InvalidArgumentError("must not be empty");
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("must not contain spaces or control characters");
    }
  }
  std::string scheme;
  std::string_view rest;
  if (StartsWithNoCase(url, "https://")) {
    scheme = "https://";
    rest = url.substr(8);
  } else if (StartsWithNoCase(url, "http://")) {
    scheme = "http://";
    rest = url.substr(7);
  } else {
    return absl::InvalidArgumentError("must start with http:// or https://");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return absl::InvalidArgumentError("must not contain a query (?) or fragment (#)");
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError("must not contain credentials (user:password@)");
  }
  if (authority.empty()) {
    return absl::InvalidArgumentError("has no host");
  }
  if (absl::Status s = CheckHostPort(authority, /*port_required=*/false, /*allow_port_zero=*/false);
      !s.ok()) {
    return s;
  }
  while (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  return absl::StrCat(scheme, std::string(authority), std::string(path));
}

absl::Status CheckSecretText(std::string_view secret) {
  for (unsigned char c : secret) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("must not contain control characters or line breaks");
    }
  }
  if (!secret.empty() && (secret.front() == ' ' || secret.back() == ' ')) {
    return absl::InvalidArgumentError("must not start or end with a space");
  }
  return absl::OkStatus();
}

bool IsValidProviderName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::Status CheckReadableFile(const std::string& path) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    return absl::NotFoundError("file not found");
  }
  if (!std::filesystem::is_regular_file(st)) {
    return absl::InvalidArgumentError("not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot be read (", std::generic_category().message(errno), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckCaFile(const std::string& path) {
  if (absl::Status s = CheckReadableFile(path); !s.ok()) {
    return s;
  }
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    return absl::InvalidArgumentError("cannot read the file size");
  }
  if (size > kMaxCaFileBytes) {
    return absl::InvalidArgumentError("larger than 16 MiB: not a CA bundle");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot be read (", std::generic_category().message(errno), ")"));
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return absl::InvalidArgumentError("read error");
  }
  if (data.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return absl::InvalidArgumentError("contains no PEM certificate (-----BEGIN CERTIFICATE-----)");
  }
  return absl::OkStatus();
}

}  // namespace ccrelay::controlplane
