#pragma once

#include <string>
#include <string_view>

namespace ccrelay::common {

// Host part of "host:port", "[v6]:port" or a gRPC target ("dns:///host:port", "ipv4:host:port",
// "ipv6:[::1]:port"), without brackets. "" when there is none.
std::string HostOf(std::string_view address);

// True when `address` (any of the forms above, or "unix:...") can only reach this machine:
// 127.0.0.0/8, ::1, localhost, a Unix socket. 0.0.0.0 and :: are NOT loopback (they listen
// everywhere).
bool IsLoopbackAddress(std::string_view address);

}  // namespace ccrelay::common
