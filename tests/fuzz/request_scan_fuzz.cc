// Fuzzes ScanRequestBody: it must never crash, never change the body, and whenever it accepts a
// body, splicing a new model into the reported token range must give a body that scans again to
// the same fields with only the model changed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dataplane/http/request_scan.h"

namespace {

void Check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

std::string Splice(const std::string& body, const ccrelay::http::RequestInfo& info,
                   std::string_view model) {
  std::string out = body.substr(0, info.model_token_begin);
  out.append(ccrelay::http::JsonQuote(model));
  out.append(body, info.model_token_end, std::string::npos);
  return out;
}

void CheckSplice(const std::string& body, const ccrelay::http::RequestInfo& info,
                 std::string_view model) {
  std::string spliced = Splice(body, info, model);
  const std::string before = spliced;
  auto again = ccrelay::http::ScanRequestBody(&spliced);
  Check(spliced == before);
  Check(again.ok());
  Check(again->model == model);
  Check(again->model_token_begin == info.model_token_begin);
  Check(again->stream == info.stream);
  Check(again->user_id == info.user_id);
  Check(again->session_id == info.session_id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string original(reinterpret_cast<const char*>(data), size);
  std::string body = original;
  auto info = ccrelay::http::ScanRequestBody(&body);
  Check(body == original);
  ccrelay::http::SessionIdFromUserId(original);
  if (!info.ok()) {
    return 0;
  }
  Check(!info->model.empty());
  Check(info->model_token_begin < info->model_token_end);
  Check(info->model_token_end <= body.size());
  Check(body[info->model_token_begin] == '"');
  Check(body[info->model_token_end - 1] == '"');
  Check(info->session_id == ccrelay::http::SessionIdFromUserId(info->user_id));
  CheckSplice(body, *info, "claude-other-model");
  CheckSplice(body, *info, info->model);  // re-quoting the decoded model round-trips
  CheckSplice(body, *info, "q\"\\\n\x01 \xC3\xA9");
  return 0;
}
