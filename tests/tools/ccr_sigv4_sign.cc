// ccr_sigv4_sign: signs request descriptions with the relay's SigV4 signer, for
// tests/e2e/sigv4_botocore_test.sh to compare with botocore.
//
// stdin: one JSON object per line:
//   {"method": "POST", "path": "/model/x/invoke", "query": "a=1",
//    "headers": [["host", "bedrock-runtime.us-east-1.amazonaws.com"], ["content-type", "..."]],
//    "body": "text" | "body_b64": "base64", "region": "us-east-1", "service": "bedrock",
//    "unix_seconds": 1440938160, "access_key_id": "...", "secret_access_key": "...",
//    "session_token": "" (optional), "content_sha256": true (optional, default true)}
// stdout, one line per request:
//   default  "Authorization: <value>"
//   --steps  {"authorization", "canonical_request", "string_to_sign", "head"} as JSON
//   a line it cannot read gives "error: <why>" (and exit status 1 at the end).
//
// --check-allocations N: signs the first request N times and prints "allocations <count> (first
// half: <count>)", the first count for the second half (a warm thread), counting both operator new
// and OpenSSL's allocations; exit status 1 unless that count is 0. The body is hashed in three
// pieces, as the exchange does.
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include <openssl/crypto.h>

#include "dataplane/providers/bedrock/sigv4.h"
#include "nlohmann/json.hpp"

namespace {

std::atomic<uint64_t> g_allocations{0};

void* CountingCryptoMalloc(size_t n, const char* /*file*/, int /*line*/) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n);
}
void* CountingCryptoRealloc(void* p, size_t n, const char* /*file*/, int /*line*/) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::realloc(p, n);
}
void CryptoFree(void* p, const char* /*file*/, int /*line*/) { std::free(p); }

}  // namespace

// Counting replacements of the plain operator new/delete (malloc and free underneath, so that
// the pairs stay matched under ASan). They stay out of line: inlined, g++ would see malloc/free
// meet operator new/delete and warn (-Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](size_t n) { return ::operator new(n); }
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, size_t /*n*/) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, size_t /*n*/) noexcept { std::free(p); }

namespace {

namespace sig = ccrelay::providers::bedrock;
using Json = nlohmann::json;

// One request description, owning the bytes the signer's views point at.
struct Description {
  std::string method, path, query, region, service, body;
  std::string access_key_id, secret_access_key, session_token;
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t unix_seconds = 0;
  bool content_sha256 = true;
};

bool GetString(const Json& j, const char* key, bool required, std::string* out,
               std::string* error) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) {
      *error = std::string("missing \"") + key + "\"";
    }
    return !required;
  }
  if (!it->is_string()) {
    *error = std::string("\"") + key + "\" is not a string";
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

std::optional<Description> Parse(const std::string& line, std::string* error) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "not a JSON object";
    return std::nullopt;
  }
  Description d;
  if (!GetString(j, "method", true, &d.method, error) ||
      !GetString(j, "path", true, &d.path, error) ||
      !GetString(j, "query", false, &d.query, error) ||
      !GetString(j, "region", true, &d.region, error) ||
      !GetString(j, "service", true, &d.service, error) ||
      !GetString(j, "access_key_id", true, &d.access_key_id, error) ||
      !GetString(j, "secret_access_key", true, &d.secret_access_key, error) ||
      !GetString(j, "session_token", false, &d.session_token, error) ||
      !GetString(j, "body", false, &d.body, error)) {
    return std::nullopt;
  }
  std::string b64;
  if (!GetString(j, "body_b64", false, &b64, error)) {
    return std::nullopt;
  }
  if (!b64.empty() && !absl::Base64Unescape(b64, &d.body)) {
    *error = "\"body_b64\" is not base64";
    return std::nullopt;
  }
  auto t = j.find("unix_seconds");
  if (t == j.end() || !t->is_number_integer()) {
    *error = "\"unix_seconds\" missing or not an integer";
    return std::nullopt;
  }
  d.unix_seconds = t->get<int64_t>();
  if (auto c = j.find("content_sha256"); c != j.end()) {
    if (!c->is_boolean()) {
      *error = "\"content_sha256\" is not a boolean";
      return std::nullopt;
    }
    d.content_sha256 = c->get<bool>();
  }
  auto h = j.find("headers");
  if (h == j.end() || !h->is_array()) {
    *error = "\"headers\" missing or not an array";
    return std::nullopt;
  }
  for (const Json& pair : *h) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
      *error = "a header is not [name, value]";
      return std::nullopt;
    }
    d.headers.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
  }
  if (d.headers.size() + 3 > sig::kMaxSignedHeaders) {
    *error = "too many headers";
    return std::nullopt;
  }
  return d;
}

// The signer's inputs as views into `d`; `hex` and `headers` must outlive the request.
sig::SigV4Request ToRequest(const Description& d, std::vector<sig::SignedHeader>* headers,
                            std::array<char, sig::kSha256HexSize>* hex) {
  headers->clear();
  for (const auto& [n, v] : d.headers) {
    headers->push_back({n, v});
  }
  std::string_view body = d.body;
  std::array<std::string_view, 3> pieces{body.substr(0, body.size() / 3),
                                         body.substr(body.size() / 3, body.size() / 3),
                                         body.substr(2 * (body.size() / 3))};
  sig::Sha256Hex(pieces, hex->data());
  sig::SigV4Request req;
  req.method = d.method;
  req.path = d.path;
  req.query = d.query;
  req.headers = *headers;
  req.payload_sha256_hex = std::string_view(hex->data(), hex->size());
  req.unix_seconds = d.unix_seconds;
  req.region = d.region;
  req.service = d.service;
  req.add_content_sha256 = d.content_sha256;
  return req;
}

int CheckAllocations(const Description& d, int rounds) {
  std::vector<sig::SignedHeader> headers;
  headers.reserve(d.headers.size());
  std::array<char, sig::kSha256HexSize> hex;
  sig::SigV4Credentials creds{d.access_key_id, d.secret_access_key, d.session_token};
  std::string head;
  head.reserve(4096);
  uint64_t cold = 0;
  uint64_t warm = 0;
  for (int i = 0; i < rounds; ++i) {
    uint64_t before = g_allocations.load();
    head.clear();
    sig::SigV4Request req = ToRequest(d, &headers, &hex);
    sig::SignV4(req, creds, &head);
    (i < rounds / 2 ? cold : warm) += g_allocations.load() - before;
  }
  // The cold count shows the counting works (the first signature grows buffers, fills the cache).
  std::cout << "allocations " << warm << " (first half: " << cold << ")\n";
  return warm == 0 ? 0 : 1;
}

}  // namespace

// A test tool: an exception (std::bad_alloc) may end it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  // Before anything else touches OpenSSL: its allocations are counted from here on.
  const bool crypto_counted =
      CRYPTO_set_mem_functions(CountingCryptoMalloc, CountingCryptoRealloc, CryptoFree) == 1;
  bool steps = false;
  int allocation_rounds = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--steps") {
      steps = true;
    } else if (arg == "--check-allocations" && i + 1 < argc) {
      allocation_rounds = std::atoi(argv[++i]);
    } else {
      std::cerr << "usage: ccr_sigv4_sign [--steps] [--check-allocations N] < requests.jsonl\n";
      return 2;
    }
  }

  int status = 0;
  std::vector<sig::SignedHeader> headers;
  std::array<char, sig::kSha256HexSize> hex;
  sig::detail::SigV4Steps out;
  std::string head;
  for (std::string line; std::getline(std::cin, line);) {
    if (line.empty()) {
      continue;
    }
    std::string error;
    std::optional<Description> d = Parse(line, &error);
    if (!d) {
      std::cout << "error: " << error << "\n";
      status = 1;
      continue;
    }
    if (allocation_rounds > 0) {
      if (!crypto_counted) {
        std::cerr << "OpenSSL allocations cannot be counted (CRYPTO_set_mem_functions failed)\n";
        return 1;
      }
      return CheckAllocations(*d, allocation_rounds);
    }
    sig::SigV4Request req = ToRequest(*d, &headers, &hex);
    sig::SigV4Credentials creds{d->access_key_id, d->secret_access_key, d->session_token};
    head.clear();
    sig::SignV4(req, creds, &head);
    if (!steps) {
      // SignV4 appends Authorization last, ending in "\r\n".
      const size_t at = head.rfind("Authorization: ");
      std::cout << std::string_view(head).substr(at, head.size() - 2 - at) << "\n";
      continue;
    }
    sig::detail::ComputeSigV4Steps(req, creds, &out);
    Json j = {{"authorization", out.authorization},
              {"canonical_request", out.canonical_request},
              {"string_to_sign", out.string_to_sign},
              {"head", head}};
    std::cout << j.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  }
  return status;
}
