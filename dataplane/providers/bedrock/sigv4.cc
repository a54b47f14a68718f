#include "dataplane/providers/bedrock/sigv4.h"

// OpenSSL 3 deprecates the low-level SHA-256 functions in favour of EVP, but 3.0's
// EVP_DigestInit_ex frees and re-creates its provider context on every call, even on a reused
// EVP_MD_CTX with the same digest: one malloc per digest, four per signature (counted with
// `ccr_sigv4_sign --check-allocations`). SHA256_CTX is a plain struct that lives on the stack
// and can be copied, which also lets a cached signing key keep its HMAC pad states. The
// functions remain in every OpenSSL 3 release; this define only silences their deprecation.
#define OPENSSL_SUPPRESS_DEPRECATED

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <initializer_list>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "dataplane/common/status_macros.h"
#include "dataplane/common/str.h"

namespace ccrelay::providers::bedrock {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";
constexpr size_t kDigestSize = SHA256_DIGEST_LENGTH;
constexpr size_t kHmacBlockSize = SHA256_CBLOCK;
constexpr size_t kAmzDateSize = 16;   // 20150830T123600Z
constexpr size_t kDateStampSize = 8;  // 20150830
// Signing keys kept per thread. A key lives a day; a worker signs for a handful of
// (credential, region) pairs, so a few entries hit almost always, and a miss costs 4 HMACs.
constexpr size_t kSigningKeyCacheSize = 4;

constexpr std::string_view kHexLower = "0123456789abcdef";
constexpr std::string_view kHexUpper = "0123456789ABCDEF";

using Digest = std::array<unsigned char, kDigestSize>;

// An HMAC-SHA-256 key as the two digest states after absorbing key^ipad and key^opad: the MAC
// of a message then costs its own blocks plus one, whatever the key.
struct HmacKey {
  SHA256_CTX inner;
  SHA256_CTX outer;
};

struct SigningKeyEntry {
  std::string secret;
  std::array<char, kDateStampSize> date{};
  std::string region;
  std::string service;
  HmacKey key{};          // kSigning, ready to MAC a string to sign
  uint64_t last_use = 0;  // 0 = empty
};

// Per-thread state: the data plane runs one thread per worker, so none of this needs a lock.
// The strings and vectors keep their capacity from one request to the next.
struct ThreadState {
  ThreadState() = default;
  ~ThreadState() {
    for (auto& e : keys) {
      OPENSSL_cleanse(e.secret.data(), e.secret.size());
      OPENSSL_cleanse(&e.key, sizeof(e.key));
    }
  }
  ThreadState(const ThreadState&) = delete;
  ThreadState& operator=(const ThreadState&) = delete;

  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;
  std::string query_buffer;  // encoded query names and values, before sorting
  struct QueryPair {
    uint32_t name_begin;
    uint32_t name_size;
    uint32_t value_begin;
    uint32_t value_size;
  };
  std::vector<QueryPair> query_pairs;
  std::array<SigningKeyEntry, kSigningKeyCacheSize> keys;
  uint64_t clock = 0;  // LRU ticks
  uint64_t derivations = 0;
};

ThreadState& State() {
  thread_local ThreadState state;
  return state;
}

std::string_view AsView(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

void DigestPieces(std::span<const std::string_view> pieces, Digest* out) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  for (std::string_view p : pieces) {
    SHA256_Update(&ctx, p.data(), p.size());
  }
  SHA256_Final(out->data(), &ctx);
}

void ToHex(const unsigned char* in, size_t n, char* out) {
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHexLower[in[i] >> 4];
    out[2 * i + 1] = kHexLower[in[i] & 0xf];
  }
}

// RFC 2104 with the key given in pieces ("AWS4" + secret without concatenating them). Written
// out rather than OpenSSL's HMAC(), which in OpenSSL 3 fetches and allocates a MAC context on
// every call.
void InitHmacKey(std::initializer_list<std::string_view> key_pieces, HmacKey* key) {
  std::array<unsigned char, kHmacBlockSize> block{};
  size_t key_size = 0;
  for (std::string_view p : key_pieces) {
    key_size += p.size();
  }
  if (key_size > kHmacBlockSize) {
    Digest hashed;
    DigestPieces(std::span<const std::string_view>(key_pieces.begin(), key_pieces.size()), &hashed);
    std::copy(hashed.begin(), hashed.end(), block.begin());
    OPENSSL_cleanse(hashed.data(), hashed.size());
  } else {
    size_t at = 0;
    for (std::string_view p : key_pieces) {
      std::memcpy(block.data() + at, p.data(), p.size());
      at += p.size();
    }
  }
  std::array<unsigned char, kHmacBlockSize> pad;
  for (size_t i = 0; i < kHmacBlockSize; ++i) {
    pad[i] = block[i] ^ 0x36;
  }
  SHA256_Init(&key->inner);
  SHA256_Update(&key->inner, pad.data(), pad.size());
  for (size_t i = 0; i < kHmacBlockSize; ++i) {
    pad[i] = block[i] ^ 0x5c;
  }
  SHA256_Init(&key->outer);
  SHA256_Update(&key->outer, pad.data(), pad.size());
  OPENSSL_cleanse(block.data(), block.size());
  OPENSSL_cleanse(pad.data(), pad.size());
}

void HmacWithKey(const HmacKey& key, std::string_view data, Digest* out) {
  SHA256_CTX ctx = key.inner;
  SHA256_Update(&ctx, data.data(), data.size());
  Digest inner;
  SHA256_Final(inner.data(), &ctx);
  ctx = key.outer;
  SHA256_Update(&ctx, inner.data(), inner.size());
  SHA256_Final(out->data(), &ctx);
  OPENSSL_cleanse(&ctx, sizeof(ctx));
  OPENSSL_cleanse(inner.data(), inner.size());
}

void Hmac(std::initializer_list<std::string_view> key_pieces, std::string_view data, Digest* out) {
  HmacKey key;
  InitHmacKey(key_pieces, &key);
  HmacWithKey(key, data, out);
  OPENSSL_cleanse(&key, sizeof(key));
}

// kSigning for (secret, date, region, service): from the thread's cache, else derived
// (kDate -> kRegion -> kService -> kSigning) into the least recently used entry.
const HmacKey& SigningKey(std::string_view secret, std::string_view date_stamp,
                          std::string_view region, std::string_view service) {
  ThreadState& st = State();
  ++st.clock;
  SigningKeyEntry* victim = &st.keys[0];
  for (SigningKeyEntry& e : st.keys) {
    if (e.last_use != 0 && std::string_view(e.date.data(), e.date.size()) == date_stamp &&
        e.region == region && e.service == service && e.secret == secret) {
      e.last_use = st.clock;
      return e.key;
    }
    if (e.last_use < victim->last_use) {
      victim = &e;
    }
  }
  ++st.derivations;
  OPENSSL_cleanse(victim->secret.data(), victim->secret.size());
  victim->secret.assign(secret);
  std::copy(date_stamp.begin(), date_stamp.end(), victim->date.begin());
  victim->region.assign(region);
  victim->service.assign(service);
  Digest k;
  Hmac({"AWS4", secret}, date_stamp, &k);
  Hmac({AsView(k)}, region, &k);
  Hmac({AsView(k)}, service, &k);
  Hmac({AsView(k)}, kTerminator, &k);
  InitHmacKey({AsView(k)}, &victim->key);
  OPENSSL_cleanse(k.data(), k.size());
  victim->last_use = st.clock;
  return victim->key;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

void AppendEncodedByte(unsigned char c, std::string* out) {
  if (IsUnreserved(c)) {
    out->push_back(static_cast<char>(c));
  } else {
    out->push_back('%');
    out->push_back(kHexUpper[c >> 4]);
    out->push_back(kHexUpper[c & 0xf]);
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Percent-decodes `s` (an invalid escape stays literal, as Python's unquote leaves it) and
// encodes the result canonically, so "%7e", "~" and "%7E" sign the same.
void AppendReencoded(std::string_view s, std::string* out) {
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = static_cast<unsigned char>(hi * 16 + lo);
        i += 2;
      }
    }
    AppendEncodedByte(c, out);
  }
}

bool IsHeaderSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// Header names compared as their lowercase forms (the order botocore and the AWS SDKs sort in).
bool LowerLess(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    auto ca = static_cast<unsigned char>(common::AsciiLower(a[i]));
    auto cb = static_cast<unsigned char>(common::AsciiLower(b[i]));
    if (ca != cb) {
      return ca < cb;
    }
  }
  return a.size() < b.size();
}

void AppendLower(std::string_view s, std::string* out) {
  for (char c : s) {
    out->push_back(common::AsciiLower(c));
  }
}

// The canonical request into st.canonical_request and the signed header list into
// st.signed_headers.
void BuildCanonicalRequest(const SigV4Request& req, std::string_view amz_date,
                           std::string_view session_token, ThreadState& st) {
  // Every signed header, stably sorted by lowercase name (insertion sort: a dozen entries).
  std::array<SignedHeader, kMaxSignedHeaders> sorted;
  size_t n = 0;
  auto add = [&](std::string_view name, std::string_view value) {
    CCR_CHECK(n < kMaxSignedHeaders);
    size_t at = n++;
    while (at > 0 && LowerLess(name, sorted[at - 1].name)) {
      sorted[at] = sorted[at - 1];
      --at;
    }
    sorted[at] = {name, value};
  };
  for (const SignedHeader& h : req.headers) {
    CCR_DCHECK(!common::EqualsIgnoreCase(h.name, "x-amz-date") &&
               !common::EqualsIgnoreCase(h.name, "x-amz-security-token") &&
               !common::EqualsIgnoreCase(h.name, "x-amz-content-sha256") &&
               !common::EqualsIgnoreCase(h.name, "authorization"));
    add(h.name, h.value);
  }
  add("x-amz-date", amz_date);
  if (!session_token.empty()) {
    add("x-amz-security-token", session_token);
  }
  if (req.add_content_sha256) {
    add("x-amz-content-sha256", req.payload_sha256_hex);
  }

  std::string& creq = st.canonical_request;
  std::string& signed_headers = st.signed_headers;
  creq.clear();
  signed_headers.clear();
  creq.append(req.method);
  creq.push_back('\n');
  detail::AppendCanonicalUri(req.path, &creq);
  creq.push_back('\n');
  detail::AppendCanonicalQuery(req.query, &creq);
  creq.push_back('\n');
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && common::EqualsIgnoreCase(sorted[i].name, sorted[i - 1].name)) {
      // A repeated header: one canonical line, values joined in the order given.
      creq.push_back(',');
    } else {
      if (i > 0) {
        creq.push_back('\n');
        signed_headers.push_back(';');
      }
      AppendLower(sorted[i].name, &creq);
      creq.push_back(':');
      AppendLower(sorted[i].name, &signed_headers);
    }
    detail::AppendTrimmedValue(sorted[i].value, &creq);
  }
  creq.append("\n\n");
  creq.append(signed_headers);
  creq.push_back('\n');
  creq.append(req.payload_sha256_hex);
}

// Signs `req`: the canonical request, the string to sign and the Authorization value end up in
// the thread's buffers and `authorization`.
void Sign(const SigV4Request& req, const SigV4Credentials& creds,
          const std::array<char, kAmzDateSize>& amz_date_buf, std::string* authorization) {
  CCR_DCHECK(req.payload_sha256_hex.size() == kSha256HexSize);
  ThreadState& st = State();
  std::string_view amz_date(amz_date_buf.data(), amz_date_buf.size());
  std::string_view date_stamp = amz_date.substr(0, kDateStampSize);
  BuildCanonicalRequest(req, amz_date, creds.session_token, st);

  Digest creq_hash;
  const std::string_view creq_piece = st.canonical_request;
  DigestPieces({&creq_piece, 1}, &creq_hash);
  std::array<char, 2 * kDigestSize> creq_hex;
  ToHex(creq_hash.data(), creq_hash.size(), creq_hex.data());

  std::string& sts = st.string_to_sign;
  sts.clear();
  common::StrAppend(&sts, kAlgorithm, '\n', amz_date, '\n', date_stamp, '/', req.region, '/',
                    req.service, '/', kTerminator, '\n',
                    std::string_view(creq_hex.data(), creq_hex.size()));

  const HmacKey& key = SigningKey(creds.secret_access_key, date_stamp, req.region, req.service);
  Digest signature;
  HmacWithKey(key, sts, &signature);
  std::array<char, 2 * kDigestSize> signature_hex;
  ToHex(signature.data(), signature.size(), signature_hex.data());

  common::StrAppend(authorization, kAlgorithm, " Credential=", creds.access_key_id, '/', date_stamp,
                    '/', req.region, '/', req.service, '/', kTerminator,
                    ", SignedHeaders=", st.signed_headers,
                    ", Signature=", std::string_view(signature_hex.data(), signature_hex.size()));
}

}  // namespace

void Sha256Hex(std::span<const std::string_view> pieces,
               char out[kSha256HexSize]) {  // NOLINT(modernize-avoid-c-arrays)
  Digest d;
  DigestPieces(pieces, &d);
  ToHex(d.data(), d.size(), out);
}

void SignV4(const SigV4Request& req, const SigV4Credentials& creds, std::string* head) {
  const std::array<char, kAmzDateSize> amz_date = detail::FormatAmzDate(req.unix_seconds);
  common::StrAppend(head, "X-Amz-Date: ", std::string_view(amz_date.data(), amz_date.size()),
                    "\r\n");
  if (!creds.session_token.empty()) {
    common::StrAppend(head, "X-Amz-Security-Token: ", creds.session_token, "\r\n");
  }
  if (req.add_content_sha256) {
    common::StrAppend(head, "X-Amz-Content-Sha256: ", req.payload_sha256_hex, "\r\n");
  }
  head->append("Authorization: ");
  Sign(req, creds, amz_date, head);
  head->append("\r\n");
}

namespace detail {

void ComputeSigV4Steps(const SigV4Request& req, const SigV4Credentials& creds, SigV4Steps* out) {
  const std::array<char, kAmzDateSize> amz_date = FormatAmzDate(req.unix_seconds);
  out->authorization.clear();
  Sign(req, creds, amz_date, &out->authorization);
  out->canonical_request = State().canonical_request;
  out->string_to_sign = State().string_to_sign;
}

std::array<char, 16> FormatAmzDate(int64_t unix_seconds) {
  using std::chrono::days;
  using std::chrono::seconds;
  const std::chrono::sys_seconds t{seconds{unix_seconds}};
  const auto day = std::chrono::floor<days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{t - day};
  const int year = static_cast<int>(ymd.year());
  CCR_DCHECK(year >= 0 && year <= 9999);
  std::array<char, 16> out;
  auto put2 = [&out](size_t at, unsigned v) {
    out[at] = static_cast<char>('0' + v / 10);
    out[at + 1] = static_cast<char>('0' + v % 10);
  };
  put2(0, static_cast<unsigned>(year / 100));
  put2(2, static_cast<unsigned>(year % 100));
  put2(4, static_cast<unsigned>(ymd.month()));
  put2(6, static_cast<unsigned>(ymd.day()));
  out[8] = 'T';
  put2(9, static_cast<unsigned>(hms.hours().count()));
  put2(11, static_cast<unsigned>(hms.minutes().count()));
  put2(13, static_cast<unsigned>(hms.seconds().count()));
  out[15] = 'Z';
  return out;
}

void AppendCanonicalUri(std::string_view path, std::string* out) {
  // botocore's remove_dot_segments, which AWS services verify against: RFC 3986 5.2.4 plus
  // removal of empty segments. The result keeps a leading '/' and, when any segment is left, a
  // trailing one. Each kept segment is written as "/" + its encoding; ".." truncates back to
  // the previous '/', which is unambiguous since an encoded segment contains no '/'.
  if (path.empty()) {
    out->push_back('/');
    return;
  }
  const size_t base = out->size();
  size_t segments = 0;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    std::string_view seg = path.substr(pos, end - pos);
    if (seg == "..") {
      if (segments > 0) {
        out->resize(out->rfind('/'));
        --segments;
      }
    } else if (!seg.empty() && seg != ".") {
      out->push_back('/');
      for (char c : seg) {
        AppendEncodedByte(static_cast<unsigned char>(c), out);
      }
      ++segments;
    }
    pos = end + 1;
  }
  const bool leading = path.front() == '/';
  if (segments == 0) {
    if (leading) {
      out->push_back('/');
    }
    return;
  }
  if (!leading) {
    out->erase(base, 1);
  }
  if (path.back() == '/') {
    out->push_back('/');
  }
}

void AppendCanonicalQuery(std::string_view query, std::string* out) {
  if (query.empty()) {
    return;
  }
  ThreadState& st = State();
  std::string& buf = st.query_buffer;
  auto& pairs = st.query_pairs;
  buf.clear();
  pairs.clear();
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t end = query.find('&', pos);
    if (end == std::string_view::npos) {
      end = query.size();
    }
    std::string_view pair = query.substr(pos, end - pos);
    pos = end + 1;
    if (pair.empty()) {
      continue;  // "a=1&&b=2": nothing between the separators
    }
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    ThreadState::QueryPair p;
    p.name_begin = static_cast<uint32_t>(buf.size());
    AppendReencoded(name, &buf);
    p.name_size = static_cast<uint32_t>(buf.size() - p.name_begin);
    p.value_begin = static_cast<uint32_t>(buf.size());
    AppendReencoded(value, &buf);
    p.value_size = static_cast<uint32_t>(buf.size() - p.value_begin);
    pairs.push_back(p);
  }
  // Sorted by encoded name, then encoded value (a repeated name is signed once per value).
  std::string_view all = buf;
  auto name_of = [all](const ThreadState::QueryPair& p) {
    return all.substr(p.name_begin, p.name_size);
  };
  auto value_of = [all](const ThreadState::QueryPair& p) {
    return all.substr(p.value_begin, p.value_size);
  };
  std::sort(pairs.begin(), pairs.end(), [&](const auto& a, const auto& b) {
    int c = name_of(a).compare(name_of(b));
    return c != 0 ? c < 0 : value_of(a) < value_of(b);
  });
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0) {
      out->push_back('&');
    }
    common::StrAppend(out, name_of(pairs[i]), '=', value_of(pairs[i]));
  }
}

void AppendTrimmedValue(std::string_view value, std::string* out) {
  bool pending_space = false;
  bool any = false;
  for (char c : value) {
    if (IsHeaderSpace(c)) {
      pending_space = any;
      continue;
    }
    if (pending_space) {
      out->push_back(' ');
      pending_space = false;
    }
    out->push_back(c);
    any = true;
  }
}

std::array<unsigned char, 32> HmacSha256(std::string_view key, std::string_view data) {
  Digest out;
  Hmac({key}, data, &out);
  return out;
}

uint64_t SigningKeyDerivationsForTest() { return State().derivations; }

}  // namespace detail

}  // namespace ccrelay::providers::bedrock
