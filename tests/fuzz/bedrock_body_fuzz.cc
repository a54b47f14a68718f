// Fuzzes the Bedrock body rewrite (WriteInvokeBody, WriteCountTokensBody). It must never crash;
// whenever the input is a JSON object that simdjson's full DOM parser accepts,
// both rewrites must succeed and give valid JSON: an InvokeModel body with no "model" or
// "stream" and an "anthropic_version", and a CountTokens wrapper whose base64 decodes to the
// InvokeModel body (plus max_tokens when it had none).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "dataplane/http/request_scan.h"
#include "dataplane/providers/bedrock/bedrock_body.h"

namespace {

namespace bedrock = ccrelay::providers::bedrock;

void Check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

// Full validation (grammar, UTF-8, escapes, depth) with simdjson's DOM parser.
bool ParsesAsObject(std::string_view text, simdjson::dom::object* object) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element element;
  if (parser.parse(padded).get(element) != simdjson::SUCCESS) {
    return false;
  }
  // The element lives in the parser; copy out what is checked before the next parse.
  return element.get_object().get(*object) == simdjson::SUCCESS;
}

bool HasKey(simdjson::dom::object object, std::string_view key) {
  for (auto field : object) {
    if (field.key == key) {
      return true;
    }
  }
  return false;
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  return c == '+' ? 62 : c == '/' ? 63 : -1;
}

// Strict standard base64 with padding.
bool DecodeBase64(std::string_view in, std::string* out) {
  out->clear();
  if (in.size() % 4 != 0) {
    return false;
  }
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int pad = last ? (in[i + 3] == '=') + (in[i + 2] == '=') : 0;
    if (pad == 1 && in[i + 2] == '=') {
      return false;
    }
    std::array<int, 4> v = {0, 0, 0, 0};
    for (int k = 0; k < 4 - pad; ++k) {
      v[static_cast<size_t>(k)] = Base64Value(in[i + static_cast<size_t>(k)]);
      if (v[static_cast<size_t>(k)] < 0) {
        return false;
      }
    }
    const uint32_t bits = (static_cast<uint32_t>(v[0]) << 18) |
                          (static_cast<uint32_t>(v[1]) << 12) | (static_cast<uint32_t>(v[2]) << 6) |
                          static_cast<uint32_t>(v[3]);
    out->push_back(static_cast<char>(bits >> 16));
    if (pad < 2) {
      out->push_back(static_cast<char>((bits >> 8) & 0xff));
    }
    if (pad < 1) {
      out->push_back(static_cast<char>(bits & 0xff));
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string original(reinterpret_cast<const char*>(data), size);
  // The relay scans every body first; the rewrite runs only on bodies the scan accepted.
  std::string scanned = original;
  const bool scan_ok = ccrelay::http::ScanRequestBody(&scanned).ok();
  Check(scanned == original);

  // Betas and the ttl switch come from the input's first byte, so both settings get fuzzed.
  const auto betas =
      std::to_array<std::string_view>({"context-1m-2025-08-07", "effort-2025-11-24"});
  bedrock::InvokeBodyOptions options;
  options.betas = std::span<const std::string_view>(betas.data(), size > 0 ? (data[0] & 3) % 3 : 0);
  options.allow_cache_ttl = size == 0 || (data[0] & 4) == 0;

  std::string invoke;
  const absl::Status invoke_status = bedrock::WriteInvokeBody(original, options, &invoke);
  std::string count;
  const absl::Status count_status = bedrock::WriteCountTokensBody(original, options, &count);
  Check(invoke_status.ok() == count_status.ok());
  if (!invoke_status.ok()) {
    Check(invoke.empty() && count.empty());
  } else if (scan_ok) {
    // Removed spans end at structural bytes: a scanned (UTF-8-valid) body stays valid UTF-8.
    Check(simdjson::validate_utf8(invoke.data(), invoke.size()));
  }

  // The scan checks skipped values only structurally (and needs a "model"), so the strong checks
  // run on what simdjson's DOM parser fully validates: a JSON object.
  simdjson::dom::object input;
  if (!ParsesAsObject(original, &input)) {
    return 0;
  }
  // A valid object: both rewrites succeed and give valid JSON.
  Check(invoke_status.ok());
  simdjson::dom::object output;
  Check(ParsesAsObject(invoke, &output));
  Check(!HasKey(output, "model"));
  Check(!HasKey(output, "stream"));
  Check(HasKey(output, "anthropic_version"));

  simdjson::dom::object wrapper;
  Check(ParsesAsObject(count, &wrapper));
  constexpr std::string_view kPrefix = R"({"input":{"invokeModel":{"body":")";
  constexpr std::string_view kSuffix = R"("}}})";
  Check(count.size() >= kPrefix.size() + kSuffix.size());
  Check(std::string_view(count).substr(0, kPrefix.size()) == kPrefix);
  Check(std::string_view(count).substr(count.size() - kSuffix.size()) == kSuffix);
  std::string decoded;
  Check(DecodeBase64(std::string_view(count).substr(kPrefix.size(),
                                                    count.size() - kPrefix.size() - kSuffix.size()),
                     &decoded));
  // The count body is the invoke body, with ,"max_tokens":1 before the last brace when the
  // invoke body had no max_tokens.
  if (decoded != invoke) {
    constexpr std::string_view kMaxTokens = R"(,"max_tokens":1)";
    const size_t brace = invoke.rfind('}');
    Check(brace != std::string::npos);
    Check(decoded == invoke.substr(0, brace) + std::string(kMaxTokens) + invoke.substr(brace));
  }
  simdjson::dom::object counted;
  Check(ParsesAsObject(decoded, &counted));
  Check(HasKey(counted, "max_tokens"));
  return 0;
}
