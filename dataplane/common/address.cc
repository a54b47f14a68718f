#include "dataplane/common/address.h"

#include <arpa/inet.h>

#include "dataplane/common/str.h"

namespace ccrelay::common {

std::string HostOf(std::string_view address) {
  std::string_view a = address;
  if (ConsumePrefix(&a, "dns:")) {
    // dns:[//authority/]host:port
    if (ConsumePrefix(&a, "//")) {
      const size_t slash = a.find('/');
      a = slash == std::string_view::npos ? std::string_view() : a.substr(slash + 1);
    }
  } else if (!ConsumePrefix(&a, "ipv4:")) {
    ConsumePrefix(&a, "ipv6:");
  }
  if (a.starts_with("[")) {
    const size_t close = a.find(']');
    return close == std::string_view::npos ? std::string() : std::string(a.substr(1, close - 1));
  }
  const size_t colon = a.rfind(':');
  if (colon == std::string_view::npos) {
    return std::string(a);
  }
  // A bare IPv6 address without a port ("::1") has more than one colon.
  if (a.find(':') != colon) {
    return std::string(a);
  }
  return std::string(a.substr(0, colon));
}

bool IsLoopbackAddress(std::string_view address) {
  if (address.starts_with("unix:") || address.starts_with("unix-abstract:")) {
    return true;
  }
  const std::string host = HostOf(address);
  if (EqualsIgnoreCase(host, "localhost")) {
    return true;
  }
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) != 0;
  }
  return false;
}

}  // namespace ccrelay::common
