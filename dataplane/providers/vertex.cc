#include "dataplane/providers/vertex.h"

#include <string>
#include <string_view>

#include "dataplane/common/str.h"
#include "dataplane/providers/betas.h"
#include "dataplane/providers/vertex/vertex_body.h"
#include "dataplane/providers/vertex/vertex_errors.h"

namespace ccrelay::providers {

namespace bhttp = boost::beast::http;

namespace {

// The member that replaces "model" (messages) or goes before it (count_tokens).
constexpr std::string_view kVersionMember = R"("anthropic_version":"vertex-2023-10-16")";
constexpr std::string_view kVersionMemberComma = R"("anthropic_version":"vertex-2023-10-16",)";

bool IsJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsModelChar(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~' || c == '@';
}

// The bytes that remove the top-level "model" member, with one comma next to it: the comma after
// it when there is one, else the one before (it is the last member), else none (the only one).
void ModelMemberRemoval(std::string_view body, const http::RequestInfo& info, size_t* begin,
                        size_t* end) {
  *begin = info.model_member_begin;
  *end = info.model_token_end;
  size_t after = *end;
  while (after < body.size() && IsJsonWhitespace(body[after])) {
    ++after;
  }
  if (after < body.size() && body[after] == ',') {
    ++after;
    while (after < body.size() && IsJsonWhitespace(body[after])) {
      ++after;
    }
    *end = after;
    return;
  }
  size_t before = *begin;
  while (before > 0 && IsJsonWhitespace(body[before - 1])) {
    --before;
  }
  if (before > 0 && body[before - 1] == ',') {
    *begin = before - 1;
  }
}

// Splices of the client's body for Vertex (see vertex.h). No allocation once the plan is warm.
void PlanBody(const ClientRequestView& req, const UpstreamTarget& target,
              UpstreamRequestPlan* out) {
  const http::RequestInfo& info = req.info;
  if (req.count_tokens) {
    // The model stays in the body (mapped); anthropic_version goes in front of it.
    if (!info.has_anthropic_version) {
      UpstreamRequestPlan::Splice& s = out->splices.emplace_back();
      s.begin = s.end = info.model_member_begin;
      s.fixed = kVersionMemberComma;
    }
    if (target.mapped_model != info.model) {
      UpstreamRequestPlan::Splice& s = out->splices.emplace_back();
      s.begin = info.model_token_begin;
      s.end = info.model_token_end;
      s.replacement = http::JsonQuote(target.mapped_model);
    }
  } else if (!info.has_anthropic_version) {
    // The model member becomes the version member: commas and layout stay as they were.
    UpstreamRequestPlan::Splice& s = out->splices.emplace_back();
    s.begin = info.model_member_begin;
    s.end = info.model_token_end;
    s.fixed = kVersionMember;
  } else {
    UpstreamRequestPlan::Splice& s = out->splices.emplace_back();
    ModelMemberRemoval(req.body, info, &s.begin, &s.end);
  }
  out->body_kind = out->splices.empty() ? UpstreamRequestPlan::BodyKind::kUnchanged
                                        : UpstreamRequestPlan::BodyKind::kSpliced;
  // cache_control.scope, which Vertex refuses: rare, so only then is the body rewritten (the
  // splices and the removals applied in one copy into the plan's reused buffer).
  vertex::ByteRanges scopes;
  if (!vertex::FindCacheControlScopes(req.body, &scopes) || scopes.empty()) {
    return;
  }
  std::string& body = out->rewritten_body;
  body.clear();
  body.reserve(req.body.size() + kVersionMemberComma.size() + target.mapped_model.size() + 2);
  size_t at = 0;
  size_t next_scope = 0;
  auto copy_to = [&](size_t end) { body.append(req.body.substr(at, end - at)); };
  for (const UpstreamRequestPlan::Splice& sp : out->splices) {
    for (; next_scope < scopes.size() && scopes[next_scope].begin < sp.begin; ++next_scope) {
      copy_to(scopes[next_scope].begin);
      at = scopes[next_scope].end;
    }
    copy_to(sp.begin);
    body.append(sp.Bytes());
    at = sp.end;
  }
  for (; next_scope < scopes.size(); ++next_scope) {
    copy_to(scopes[next_scope].begin);
    at = scopes[next_scope].end;
  }
  copy_to(req.body.size());
  out->splices.clear();
  out->body_kind = UpstreamRequestPlan::BodyKind::kRewritten;
}

void AppendBearer(std::string_view key, std::string* h) {
  if (!key.empty()) {
    common::StrAppendPieces(h, {"Authorization: Bearer ", key, "\r\n"});
  }
}

}  // namespace

std::string VertexDefaultBaseUrl(std::string_view region) {
  if (region == "global") {
    return "https://aiplatform.googleapis.com/v1";
  }
  if (region == "us" || region == "eu") {
    return common::StrCat("https://aiplatform.", region, ".rep.googleapis.com/v1");
  }
  return common::StrCat("https://", region, "-aiplatform.googleapis.com/v1");
}

void AppendVertexModelPath(std::string_view prefix, std::string_view project,
                           std::string_view region, std::string_view model, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  common::StrAppendPieces(
      out, {prefix, "/projects/", project, "/locations/", region, "/publishers/anthropic/models/"});
  for (const char ch : model) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsModelChar(c)) {
      out->push_back(ch);
    } else {
      const char esc[3] = {'%', kHex[c >> 4], kHex[c & 0xF]};
      out->append(esc, 3);
    }
  }
}

void VertexProvider::AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const {
  if (!key.empty()) {
    out->push_back({"Authorization", common::StrCat("Bearer ", key)});
  }
}

void VertexProvider::BuildRequest(const ClientRequestView& req, const UpstreamTarget& target,
                                  UpstreamRequestPlan* out) const {
  std::string& h = out->head;
  h.append("POST ");
  if (req.count_tokens) {
    AppendVertexModelPath(target.path_prefix, target.project, target.region, "count-tokens", &h);
    h.append(":rawPredict");
  } else {
    AppendVertexModelPath(target.path_prefix, target.project, target.region, target.mapped_model,
                          &h);
    h.append(req.info.stream ? ":streamRawPredict" : ":rawPredict");
  }
  common::StrAppendPieces(&h, {" HTTP/1.1\r\nHost: ", target.host_header, "\r\n"});
  // The client's headers less its credentials and its betas, then the betas Vertex takes.
  AppendForwardedHeaders(req, /*keep_client_credentials=*/false, &h, /*drop_betas=*/true);
  AppendFilteredBetas(req, target.betas != nullptr ? *target.betas : *BetaFilter::Default(Type()),
                      out);
  AppendBearer(target.key, &h);
  PlanBody(req, target, out);
  common::StrAppend(&h, "Accept-Encoding: identity\r\nContent-Length: ", out->BodySize(req.body),
                    "\r\n\r\n");
}

ResponseDecoderPtr VertexProvider::NewResponseDecoder(int status, const bhttp::fields& /*headers*/,
                                                      bool /*count_tokens*/) const {
  if (status >= 400) {
    return std::make_unique<vertex::VertexErrorAnswer>(status);
  }
  return nullptr;
}

void VertexProvider::BuildHealthCheck(const UpstreamTarget& target, std::string_view model,
                                      UpstreamRequestPlan* out) const {
  out->body_kind = UpstreamRequestPlan::BodyKind::kRewritten;
  std::string& body = out->rewritten_body;
  body.clear();
  common::StrAppendPieces(&body, {"{", kVersionMember, R"(,"model":)",
                                  http::JsonQuote(model.empty() ? kVertexHealthCheckModel : model),
                                  R"(,"messages":[{"role":"user","content":"ping"}]})"});
  std::string& h = out->head;
  h.append("POST ");
  AppendVertexModelPath(target.path_prefix, target.project, target.region, "count-tokens", &h);
  common::StrAppendPieces(
      &h, {":rawPredict HTTP/1.1\r\nHost: ", target.host_header,
           "\r\nUser-Agent: cc-relay/" CCR_VERSION " health-check\r\nAccept: application/json\r\n"
           "Content-Type: application/json\r\nConnection: close\r\n"});
  AppendBearer(target.key, &h);
  common::StrAppend(&h, "Content-Length: ", body.size(), "\r\n\r\n");
}

}  // namespace ccrelay::providers
