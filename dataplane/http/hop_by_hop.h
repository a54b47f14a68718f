#pragma once

#include <string_view>

namespace ccrelay::http {

// Whether a header is hop-by-hop (RFC 9110 §7.6.1): one of the fixed list (Connection,
// Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade, Proxy-*), or named in the message's
// Connection header (`connection_value`, "" when absent). Such headers never cross the relay.
bool IsHopByHopHeader(std::string_view name, std::string_view connection_value);

}  // namespace ccrelay::http
