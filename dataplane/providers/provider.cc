#include "dataplane/providers/provider.h"

#include <boost/beast/http/field.hpp>

#include "dataplane/common/str.h"
#include "dataplane/http/hop_by_hop.h"

namespace ccrelay::providers {

namespace bhttp = boost::beast::http;

size_t UpstreamRequestPlan::BodySize(std::string_view client_body) const {
  switch (body_kind) {
    case BodyKind::kUnchanged:
      return client_body.size();
    case BodyKind::kSpliced: {
      size_t n = client_body.size();
      for (const Splice& s : splices) {
        n = n - (s.end - s.begin) + s.Bytes().size();
      }
      return n;
    }
    case BodyKind::kRewritten:
      return rewritten_body.size();
  }
  return client_body.size();
}

AnswerVerdict ClassifyAnthropicStatus(int status, bool pooled_key) {
  if (status >= 200 && status < 300) {
    return {AnswerClass::kSuccess, false};
  }
  switch (status) {
    case 429:
      return {AnswerClass::kRateLimited, true};
    case 401:
    case 403:
      // With the client's own credentials the answer is the client's.
      return pooled_key ? AnswerVerdict{AnswerClass::kKeyRejected, true}
                        : AnswerVerdict{AnswerClass::kClientError, false};
    case 529:
      return {AnswerClass::kOverloaded, true};
    case 500:
    case 502:
    case 503:
    case 504:
      return {AnswerClass::kServerError, true};
    default:
      break;
  }
  if (status >= 500) {
    return {AnswerClass::kServerError, false};
  }
  return {AnswerClass::kClientError, false};
}

void AppendForwardedHeaders(const ClientRequestView& req, bool keep_client_credentials,
                            std::string* head, bool drop_betas) {
  const auto conn_it = req.headers.find(bhttp::field::connection);
  const std::string_view connection =
      conn_it == req.headers.end() ? std::string_view() : std::string_view(conn_it->value());
  for (const auto& f : req.headers) {
    const std::string_view name = f.name_string();
    if (http::IsHopByHopHeader(name, connection)) {
      continue;
    }
    switch (f.name()) {
      case bhttp::field::host:
      case bhttp::field::content_length:
      case bhttp::field::expect:
      case bhttp::field::accept_encoding:
        continue;
      case bhttp::field::authorization:
        // A relay credential (generic bearer) never leaves; a subscription token passes
        // through to a passthrough provider only.
        if (!keep_client_credentials || req.client_auth == auth::AuthMethod::kBearer) {
          continue;
        }
        break;
      default:
        if (common::EqualsIgnoreCase(name, "x-api-key")) {
          if (!keep_client_credentials || req.client_auth == auth::AuthMethod::kApiKey) {
            continue;
          }
        } else if (common::StartsWithIgnoreCase(name, "x-cc-relay-")) {
          continue;
        } else if (drop_betas && common::EqualsIgnoreCase(name, "anthropic-beta")) {
          continue;
        }
        break;
    }
    common::StrAppendPieces(head, {name, ": ", std::string_view(f.value()), "\r\n"});
  }
}

void Provider::AppendKeyHeaders(const UpstreamTarget& target, std::string* head) const {
  if (target.oauth_token) {
    common::StrAppendPieces(head, {"Authorization: Bearer ", target.key, "\r\n"});
    return;
  }
  // Few and small: a vector on the stack's behalf costs one allocation per header at most.
  std::vector<HeaderField> auth_headers;
  AuthHeaders(target.key, &auth_headers);
  for (const HeaderField& a : auth_headers) {
    common::StrAppendPieces(head, {a.name, ": ", a.value, "\r\n"});
  }
}

void AppendFilteredBetas(const ClientRequestView& req, const BetaFilter& filter,
                         UpstreamRequestPlan* out) {
  FilterBetaHeaders(filter, req.headers, &out->betas);
  AppendBetaHeader(out->betas.kept, &out->head);
}

void Provider::BuildRequest(const ClientRequestView& req, const UpstreamTarget& target,
                            UpstreamRequestPlan* out) const {
  std::string& h = out->head;
  common::StrAppendPieces(&h, {"POST ", target.path_prefix, req.target, " HTTP/1.1\r\nHost: ",
                               target.host_header, "\r\n"});
  const bool keep_client_credentials = target.passthrough && SupportsPassthrough();
  // A beta policy (or a type with a table) filters anthropic-beta; otherwise it passes as is.
  AppendForwardedHeaders(req, keep_client_credentials, &h, target.betas != nullptr);
  if (target.betas != nullptr) {
    AppendFilteredBetas(req, *target.betas, out);
  }
  if (!keep_client_credentials) {
    AppendKeyHeaders(target, &h);
  }
  if (target.mapped_model != req.info.model) {
    out->body_kind = UpstreamRequestPlan::BodyKind::kSpliced;
    UpstreamRequestPlan::Splice& s = out->splices.emplace_back();
    s.begin = req.info.model_token_begin;
    s.end = req.info.model_token_end;
    s.replacement = http::JsonQuote(target.mapped_model);
  }
  // Identity encoding: the relay reads the SSE stream (usage, event boundaries) on the way.
  common::StrAppend(&h, "Accept-Encoding: identity\r\nContent-Length: ", out->BodySize(req.body),
                    "\r\n\r\n");
}

ResponseDecoderPtr Provider::NewResponseDecoder(int /*status*/,
                                                const boost::beast::http::fields& /*headers*/,
                                                bool /*count_tokens*/) const {
  return nullptr;
}

void Provider::BuildHealthCheck(const UpstreamTarget& target, std::string_view /*model*/,
                                UpstreamRequestPlan* out) const {
  std::string& h = out->head;
  common::StrAppendPieces(&h, {"GET ", target.path_prefix, HealthCheckTarget(),
                               " HTTP/1.1\r\nHost: ", target.host_header,
                               "\r\nUser-Agent: cc-relay/" CCR_VERSION
                               " health-check\r\nAccept: application/json\r\n"
                               "anthropic-version: 2023-06-01\r\nConnection: close\r\n"});
  // Without a key: no credentials (a passthrough provider's 401 still proves it is there), except
  // a type that sends a placeholder of its own (Ollama's "ollama").
  if (!target.key.empty() || !SupportsPassthrough()) {
    AppendKeyHeaders(target, &h);
  }
  h += "\r\n";
}

AnswerVerdict Provider::Classify(int status, const boost::beast::http::fields& /*headers*/,
                                 bool pooled_key) const {
  return ClassifyAnthropicStatus(status, pooled_key);
}

}  // namespace ccrelay::providers
