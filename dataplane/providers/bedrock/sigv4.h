#pragma once

// AWS Signature Version 4 (protocols.md 3.5) for Bedrock requests: header-based signing of a
// request whose head the relay builds itself. Runs on the request hot path: once a worker
// thread is warm (its buffers have grown and its signing keys are derived) a signature costs
// one SHA-256 of the canonical request and one HMAC, and allocates nothing.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ccrelay::providers::bedrock {

// Borrowed for the call only. Never logged: only the access key id appears in the output.
struct SigV4Credentials {
  std::string_view access_key_id;
  std::string_view secret_access_key;
  std::string_view session_token;  // "" = long-term credentials (no X-Amz-Security-Token)
};

// One header the signature covers. The name is matched and written in lowercase whatever its
// case; the value is signed trimmed, with internal whitespace runs collapsed to one space.
// Headers that share a name are signed as one, their values joined with ',' in the given order.
struct SignedHeader {
  std::string_view name;
  std::string_view value;
};

struct SigV4Request {
  std::string_view method;  // "POST", as on the request line
  // The path exactly as sent on the wire, already percent-encoded and without the query, e.g.
  // /model/arn:aws:bedrock:us-east-2:1234:inference-profile%2Fus.anthropic.claude-x-v1:0/invoke
  // The signer normalises it and encodes it once more, as every service but S3 expects.
  std::string_view path;
  // The query as sent, without '?' ("" = none). Each name and value is percent-decoded and
  // re-encoded for signing; '+' is a literal plus (encode spaces as %20, as the AWS SDKs do).
  std::string_view query;
  // The headers to sign besides the ones the signer adds (x-amz-date, x-amz-security-token,
  // x-amz-content-sha256); must include "host" and must include neither those three nor
  // authorization. Sign only headers no hop changes (protocols.md 3.5). At most
  // kMaxSignedHeaders in all.
  std::span<const SignedHeader> headers;
  std::string_view payload_sha256_hex;  // 64 lowercase hex chars of the exact body bytes
  int64_t unix_seconds = 0;             // request time (years 0..9999)
  std::string_view region;              // "us-east-1"
  std::string_view service;             // "bedrock"
  // Adds and signs X-Amz-Content-Sha256 (what the AWS JS SDK does; Bedrock accepts either).
  // The AWS test suite and botocore sign without it.
  bool add_content_sha256 = true;
};

// Signed headers per request, the caller's and the signer's together (they are sorted in a
// fixed array on the stack; more is a programming error and aborts).
inline constexpr size_t kMaxSignedHeaders = 32;
inline constexpr size_t kSha256HexSize = 64;

// Lowercase hex SHA-256 over `pieces` concatenated (the exact body bytes sent, in order),
// without copying them, into out[0..63].
void Sha256Hex(std::span<const std::string_view> pieces,
               char out[kSha256HexSize]);  // NOLINT(modernize-avoid-c-arrays)

// Appends the signing headers to an HTTP/1.1 head being built, each "Name: value\r\n", in this
// order: X-Amz-Date, X-Amz-Security-Token (when the credentials have a session token),
// X-Amz-Content-Sha256 (with add_content_sha256), Authorization. All of them but Authorization
// are signed, with the caller's headers.
void SignV4(const SigV4Request& req, const SigV4Credentials& creds, std::string* head);

// The steps of SignV4, exposed for tests and the botocore cross-check tool.
namespace detail {

// What SignV4 computes on the way, under AWS's names.
struct SigV4Steps {
  std::string canonical_request;
  std::string string_to_sign;
  std::string authorization;  // the Authorization header's value
};
// Same computation as SignV4 (same thread-local signing-key cache), into `out`.
void ComputeSigV4Steps(const SigV4Request& req, const SigV4Credentials& creds, SigV4Steps* out);

// "YYYYMMDDTHHMMSSZ" (UTC) of a Unix time.
std::array<char, 16> FormatAmzDate(int64_t unix_seconds);
// The canonical URI of a wire path: empty, "." and ".." segments removed, then every byte but
// A-Z a-z 0-9 - _ . ~ and the separating '/' percent-encoded (uppercase hex).
void AppendCanonicalUri(std::string_view path, std::string* out);
// The canonical query of a wire query: pairs decoded, re-encoded, sorted by name then value.
void AppendCanonicalQuery(std::string_view query, std::string* out);
// A header value trimmed, internal whitespace runs (space, tab, CR, LF, VT, FF) collapsed.
void AppendTrimmedValue(std::string_view value, std::string* out);
// RFC 2104 HMAC-SHA-256.
std::array<unsigned char, 32> HmacSha256(std::string_view key, std::string_view data);
// Signing keys this thread has derived so far (cache misses), to test the cache.
uint64_t SigningKeyDerivationsForTest();

}  // namespace detail

}  // namespace ccrelay::providers::bedrock
