#include "dataplane/http/hop_by_hop.h"

#include <array>

#include "dataplane/common/str.h"

namespace ccrelay::http {

namespace {

bool IsFixedHopByHop(std::string_view name) {
  static constexpr std::array<std::string_view, 9> kHop = {
      "connection", "keep-alive",         "proxy-connection",  "transfer-encoding", "te",
      "trailer",    "upgrade",            "proxy-authorization", "proxy-authenticate"};
  for (std::string_view h : kHop) {
    if (common::EqualsIgnoreCase(name, h)) {
      return true;
    }
  }
  return false;
}

bool NamedInConnection(std::string_view connection_value, std::string_view name) {
  while (!connection_value.empty()) {
    const size_t comma = connection_value.find(',');
    const std::string_view token = connection_value.substr(0, comma);
    if (common::EqualsIgnoreCase(common::StripWhitespace(token), name)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    connection_value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool IsHopByHopHeader(std::string_view name, std::string_view connection_value) {
  return IsFixedHopByHop(name) || NamedInConnection(connection_value, name);
}

}  // namespace ccrelay::http
