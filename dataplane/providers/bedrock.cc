#include "dataplane/providers/bedrock.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "dataplane/common/str.h"
#include "dataplane/providers/betas.h"
#include "dataplane/providers/bedrock/bedrock_body.h"
#include "dataplane/providers/bedrock/bedrock_stream_decoder.h"
#include "dataplane/providers/bedrock/sigv4.h"

namespace ccrelay::providers {

namespace bhttp = boost::beast::http;

namespace {

constexpr std::string_view kService = "bedrock";

bool IsUnreservedOrColon(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~' || c == ':';
}

// The Bedrock operation for a request.
std::string_view Operation(const ClientRequestView& req) {
  if (req.count_tokens) {
    return "count-tokens";
  }
  return req.info.stream ? "invoke-with-response-stream" : "invoke";
}

// The error name of a Bedrock answer: x-amzn-ErrorType without its ":<namespace>" suffix.
std::string_view ErrorType(const bhttp::fields& headers) {
  const auto it = headers.find("x-amzn-errortype");
  if (it == headers.end()) {
    return {};
  }
  std::string_view v(it->value().data(), it->value().size());
  if (const size_t colon = v.find(':'); colon != std::string_view::npos) {
    v = v.substr(0, colon);
  }
  return v;
}

// Writes "POST <path>" and the headers every Bedrock request has, up to (not including) the
// credentials, and returns the header values to sign with SigV4.
struct HeadStart {
  size_t path_begin = 0;
  size_t path_end = 0;
};

HeadStart StartHead(std::string_view path_prefix, std::string_view model, std::string_view op,
                    std::string_view host, std::string* h) {
  HeadStart hs;
  h->append("POST ");
  hs.path_begin = h->size();
  common::StrAppendPieces(h, {path_prefix, "/model/"});
  AppendBedrockModelSegment(model, h);
  common::StrAppendPieces(h, {"/", op});
  hs.path_end = h->size();
  common::StrAppendPieces(h, {" HTTP/1.1\r\nHost: ", host, "\r\nContent-Type: application/json\r\n"});
  return hs;
}

// Appends the credentials (a signature over the head's path and the body, or a bearer key) and
// ends the head.
void FinishHead(const HeadStart& hs, const UpstreamTarget& target, std::string_view body,
                std::span<const bedrock::SignedHeader> extra_signed, std::string* h) {
  common::StrAppend(h, "Content-Length: ", body.size(), "\r\n");
  if (target.aws != nullptr) {
    std::array<bedrock::SignedHeader, 8> headers;
    size_t n = 0;
    headers[n++] = {"host", target.host_header};
    headers[n++] = {"content-type", "application/json"};
    for (const bedrock::SignedHeader& e : extra_signed) {
      if (n < headers.size()) {
        headers[n++] = e;
      }
    }
    std::array<char, 64> hash;
    const std::array<std::string_view, 1> pieces = {body};
    bedrock::Sha256Hex(pieces, hash.data());
    // The signature lines are written aside and appended after: the path signed is a view of
    // the head, which must not grow (and move) while it is read. A long ARN is signed whole.
    thread_local std::string signature_lines;
    signature_lines.clear();
    bedrock::SigV4Request sr;
    sr.method = "POST";
    sr.path = std::string_view(*h).substr(hs.path_begin, hs.path_end - hs.path_begin);
    sr.query = "";
    sr.headers = std::span<const bedrock::SignedHeader>(headers.data(), n);
    sr.payload_sha256_hex = std::string_view(hash.data(), hash.size());
    sr.unix_seconds = target.unix_seconds;
    sr.region = target.region;
    sr.service = kService;
    bedrock::SignV4(sr,
                    bedrock::SigV4Credentials{target.aws->access_key_id,
                                              target.aws->secret_access_key,
                                              target.aws->session_token},
                    &signature_lines);
    h->append(signature_lines);
  } else if (!target.key.empty()) {
    common::StrAppendPieces(h, {"Authorization: Bearer ", target.key, "\r\n"});
  }
  h->append("\r\n");
}

}  // namespace

void AppendBedrockModelSegment(std::string_view model, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : model) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreservedOrColon(c)) {
      out->push_back(ch);
    } else {
      const char esc[3] = {'%', kHex[c >> 4], kHex[c & 0xF]};
      out->append(esc, 3);
    }
  }
}

void BedrockProvider::AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const {
  if (!key.empty()) {
    out->push_back({"Authorization", common::StrCat("Bearer ", key)});
  }
}

void BedrockProvider::BuildRequest(const ClientRequestView& req, const UpstreamTarget& target,
                                   UpstreamRequestPlan* out) const {
  // Betas: every anthropic-beta header value, through the Bedrock table and the provider's
  // policy; they go into the body.
  const BetaFilter& filter =
      target.betas != nullptr ? *target.betas : *BetaFilter::Default("bedrock");
  FilteredBetas& betas = out->betas;
  FilterBetaHeaders(filter, req.headers, &betas);

  bedrock::InvokeBodyOptions options;
  options.filter = &filter;
  options.betas = betas.kept.values();
  out->body_kind = UpstreamRequestPlan::BodyKind::kRewritten;
  const absl::Status st =
      req.count_tokens ? bedrock::WriteCountTokensBody(req.body, options, &out->rewritten_body)
                       : bedrock::WriteInvokeBody(req.body, options, &out->rewritten_body);
  if (!st.ok()) {
    out->error = common::StrCat("cannot rewrite the request for Bedrock: ", st.message());
    return;
  }

  std::string& h = out->head;
  const HeadStart hs =
      StartHead(target.path_prefix, target.mapped_model, Operation(req), target.host_header, &h);
  if (req.info.stream && !req.count_tokens) {
    h.append("Accept: application/vnd.amazon.eventstream\r\nX-Amzn-Bedrock-Accept: "
             "application/json\r\n");
  } else {
    h.append("Accept: application/json\r\n");
  }
  // The client's Bedrock options (guardrails, trace, service tier) go along, signed; nothing
  // else of the client's headers means anything to Bedrock, and its credentials never go.
  std::array<bedrock::SignedHeader, 6> extra;
  size_t nextra = 0;
  for (const auto& f : req.headers) {
    const std::string_view name = f.name_string();
    const std::string_view value(f.value().data(), f.value().size());
    if (common::StartsWithIgnoreCase(name, "x-amzn-bedrock-") && nextra < extra.size() &&
        !common::EqualsIgnoreCase(name, "x-amzn-bedrock-accept")) {
      common::StrAppendPieces(&h, {name, ": ", value, "\r\n"});
      extra[nextra++] = {name, value};
    } else if (f.name() == bhttp::field::user_agent) {
      common::StrAppendPieces(&h, {"User-Agent: ", value, "\r\n"});
    }
  }
  FinishHead(hs, target, out->rewritten_body,
             std::span<const bedrock::SignedHeader>(extra.data(), nextra), &h);
}

ResponseDecoderPtr BedrockProvider::NewResponseDecoder(int status, const bhttp::fields& headers,
                                                       bool count_tokens) const {
  return bedrock::NewBedrockDecoder(status, headers, count_tokens);
}

AnswerVerdict BedrockProvider::Classify(int status, const bhttp::fields& headers,
                                        bool pooled_key) const {
  const std::string_view type = ErrorType(headers);
  switch (status) {
    case 400:
      // An account quota, not the request: another key or provider may have room.
      if (type == "ServiceQuotaExceededException") {
        return {AnswerClass::kRateLimited, true};
      }
      break;
    case 408:  // ModelTimeoutException
    case 424:  // ModelErrorException
      return {AnswerClass::kServerError, true};
    case 503:  // ServiceUnavailableException: Bedrock's "overloaded"
      return {AnswerClass::kOverloaded, true};
    default:
      break;
  }
  return ClassifyAnthropicStatus(status, pooled_key);
}

void BedrockProvider::BuildHealthCheck(const UpstreamTarget& target, std::string_view model,
                                       UpstreamRequestPlan* out) const {
  // CountTokens of a one-word message: free, and it checks the signature or API key first.
  static const std::string kBody = [] {
    const std::string invoke =
        R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":1,)"
        R"("messages":[{"role":"user","content":"ping"}]})";
    return common::StrCat(R"({"input":{"invokeModel":{"body":")", absl::Base64Escape(invoke),
                          R"("}}})");
  }();
  out->body_kind = UpstreamRequestPlan::BodyKind::kRewritten;
  out->rewritten_body = kBody;
  std::string& h = out->head;
  const HeadStart hs =
      StartHead(target.path_prefix, model.empty() ? kHealthCheckModel : model, "count-tokens",
                target.host_header, &h);
  common::StrAppend(&h, "Accept: application/json\r\nUser-Agent: cc-relay/", CCR_VERSION,
                    " health-check\r\nConnection: close\r\n");
  FinishHead(hs, target, out->rewritten_body, {}, &h);
}

}  // namespace ccrelay::providers
