#include "dataplane/providers/azure.h"

#include <string>
#include <string_view>

#include "dataplane/common/str.h"
#include "dataplane/providers/betas.h"

namespace ccrelay::providers {

std::string AzureDefaultBaseUrl(std::string_view resource_name) {
  return common::StrCat("https://", resource_name, ".services.ai.azure.com/anthropic");
}

void AzureProvider::AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const {
  if (!key.empty()) {
    out->push_back({"api-key", std::string(key)});
    out->push_back({"x-api-key", std::string(key)});
  }
}

void AzureProvider::BuildRequest(const ClientRequestView& req, const UpstreamTarget& target,
                                 UpstreamRequestPlan* out) const {
  // The Anthropic request as is, with Azure's table as the default beta filter.
  if (target.betas != nullptr) {
    Provider::BuildRequest(req, target, out);
    return;
  }
  UpstreamTarget with_table = target;
  with_table.betas = BetaFilter::Default(Type());
  Provider::BuildRequest(req, with_table, out);
}

void AzureProvider::BuildHealthCheck(const UpstreamTarget& target, std::string_view model,
                                     UpstreamRequestPlan* out) const {
  out->body_kind = UpstreamRequestPlan::BodyKind::kRewritten;
  std::string& body = out->rewritten_body;
  body.clear();
  common::StrAppendPieces(
      &body, {R"({"model":)", http::JsonQuote(model.empty() ? kAzureHealthCheckModel : model),
              R"(,"messages":[{"role":"user","content":"ping"}]})"});
  std::string& h = out->head;
  common::StrAppendPieces(
      &h, {"POST ", target.path_prefix,
           "/v1/messages/count_tokens HTTP/1.1\r\nHost: ", target.host_header,
           "\r\nUser-Agent: cc-relay/" CCR_VERSION " health-check\r\nAccept: application/json\r\n"
           "Content-Type: application/json\r\n"
           "anthropic-version: 2023-06-01\r\nConnection: close\r\n"});
  AppendKeyHeaders(target, &h);
  common::StrAppend(&h, "Content-Length: ", body.size(), "\r\n\r\n");
}

}  // namespace ccrelay::providers
