#pragma once

#include <string>
#include <string_view>

#include "dataplane/providers/provider.h"

namespace ccrelay::providers::testing {

// The body an UpstreamRequestPlan sends for `client_body`, as the exchange gathers it.
inline std::string SentBody(const UpstreamRequestPlan& plan, std::string_view client_body) {
  switch (plan.body_kind) {
    case UpstreamRequestPlan::BodyKind::kUnchanged:
      return std::string(client_body);
    case UpstreamRequestPlan::BodyKind::kRewritten:
      return plan.rewritten_body;
    case UpstreamRequestPlan::BodyKind::kSpliced:
      break;
  }
  std::string out;
  size_t at = 0;
  for (const auto& s : plan.splices) {
    out.append(client_body.substr(at, s.begin - at));
    out.append(s.Bytes());
    at = s.end;
  }
  out.append(client_body.substr(at));
  return out;
}

// The value of header `name` (case-sensitive name as written) in a request head, "" if absent.
inline std::string HeadValue(std::string_view head, std::string_view name) {
  const std::string needle = "\r\n" + std::string(name) + ": ";
  const size_t at = head.find(needle);
  if (at == std::string_view::npos) {
    return {};
  }
  const size_t begin = at + needle.size();
  return std::string(head.substr(begin, head.find("\r\n", begin) - begin));
}

// The request line of a head ("POST /path HTTP/1.1").
inline std::string RequestLine(std::string_view head) {
  return std::string(head.substr(0, head.find("\r\n")));
}

}  // namespace ccrelay::providers::testing
