// Fuzzes SigV4 canonicalisation and signing. Input: line 1 the wire path, line 2 the query, each
// further line a header "name:value" (at most 24). Invariants: the canonical URI holds only
// unreserved bytes, '/' and %XX escapes, has no empty, "." or ".." segment and keeps the path's
// leading '/'; the canonical query is a fixed point (canonicalising it again changes nothing);
// a trimmed header value has no leading, trailing, repeated or non-space whitespace; SignV4
// appends well-formed header lines whose Authorization matches the one of ComputeSigV4Steps.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/providers/bedrock/sigv4.h"

namespace {

namespace sig = ccrelay::providers::bedrock;

void Check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

bool IsUpperHex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

void CheckEncoded(std::string_view s, bool slash_allowed) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      Check(i + 2 < s.size() && IsUpperHex(s[i + 1]) && IsUpperHex(s[i + 2]));
      i += 2;
    } else {
      Check(IsUnreserved(s[i]) || (slash_allowed && s[i] == '/'));
    }
  }
}

void CheckUri(std::string_view path) {
  std::string uri;
  sig::detail::AppendCanonicalUri(path, &uri);
  CheckEncoded(uri, /*slash_allowed=*/true);
  Check(path.empty() || (path.front() == '/') == (!uri.empty() && uri.front() == '/'));
  Check(uri.find("//") == std::string::npos);
  const std::string framed = uri + "/";
  Check(framed.find("/./") == std::string::npos && framed.find("/../") == std::string::npos);
}

void CheckQuery(std::string_view query) {
  std::string once;
  sig::detail::AppendCanonicalQuery(query, &once);
  std::string twice;
  sig::detail::AppendCanonicalQuery(once, &twice);
  Check(once == twice);
  size_t begin = 0;
  while (!once.empty() && begin <= once.size()) {
    size_t end = once.find('&', begin);
    if (end == std::string::npos) {
      end = once.size();
    }
    std::string_view pair = std::string_view(once).substr(begin, end - begin);
    size_t eq = pair.find('=');
    Check(eq != std::string_view::npos);
    CheckEncoded(pair.substr(0, eq), false);
    CheckEncoded(pair.substr(eq + 1), false);
    begin = end + 1;
  }
}

void CheckTrimmed(std::string_view value) {
  std::string out;
  sig::detail::AppendTrimmedValue(value, &out);
  Check(out.empty() || (out.front() != ' ' && out.back() != ' '));
  Check(out.find("  ") == std::string::npos);
  for (char c : out) {
    Check(c != '\t' && c != '\r' && c != '\n' && c != '\v' && c != '\f');
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  const std::string_view path = lines[0];
  const std::string_view query = lines.size() > 1 ? lines[1] : "";
  CheckUri(path);
  CheckQuery(query);

  std::vector<sig::SignedHeader> headers;
  for (size_t i = 2; i < lines.size() && headers.size() < 24; ++i) {
    std::string_view line = lines[i];
    size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    CheckTrimmed(value);
    // The signer adds these itself (passing them is a caller's bug it checks in debug builds).
    std::string lower(name);
    for (char& c : lower) {
      c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    }
    if (lower.starts_with("x-amz-") || lower == "authorization") {
      continue;
    }
    headers.push_back({name, value});
  }
  headers.push_back({"host", "bedrock-runtime.us-east-1.amazonaws.com"});

  std::array<char, sig::kSha256HexSize> hex;
  const std::array<std::string_view, 1> body{text};
  sig::Sha256Hex(body, hex.data());
  sig::SigV4Request req;
  req.method = "POST";
  req.path = path;
  req.query = query;
  req.headers = headers;
  req.payload_sha256_hex = std::string_view(hex.data(), hex.size());
  req.unix_seconds = 1440938160 + static_cast<int64_t>(size % 100000) * 86399;
  req.region = "us-east-1";
  req.service = "bedrock";
  req.add_content_sha256 = (size % 2) == 0;
  const sig::SigV4Credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                    (size % 3) == 0 ? "session-token" : ""};
  std::string head;
  sig::SignV4(req, creds, &head);
  Check(head.size() > 2 && head.substr(head.size() - 2) == "\r\n");
  const size_t at = head.rfind("\r\nAuthorization: ");
  Check(at != std::string::npos);
  sig::detail::SigV4Steps steps;
  sig::detail::ComputeSigV4Steps(req, creds, &steps);
  Check(head.substr(at + 17, head.size() - 2 - at - 17) == steps.authorization);
  return 0;
}
