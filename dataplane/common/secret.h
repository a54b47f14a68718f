#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace ccrelay::common {

// A credential (API key, token, proxy secret). It has no operator<< and no implicit string
// conversion: the only ways out are Reveal(), for the few places that put it on the wire, and
// Fingerprint(), a short non-reversible id safe for logs, headers and metrics.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value);

  bool empty() const { return value_.empty(); }
  // The raw value, for building an upstream request. Never log the result.
  std::string_view Reveal() const { return value_; }
  // 8 lowercase hex characters of SHA-256(value); "" for an empty secret.
  const std::string& Fingerprint() const { return fingerprint_; }

  // Constant-time comparison of the secret with a presented credential (compares SHA-256 digests
  // so neither the content nor the length leaks through timing).
  bool Matches(std::string_view presented) const;

 private:
  std::string value_;
  std::string fingerprint_;
};

// Fingerprint of any credential string (same function as Secret::Fingerprint).
std::string FingerprintOf(std::string_view value);

// Constant-time equality of two strings (digest comparison).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

inline constexpr size_t kSha256Bytes = 32;
// SHA-256 of `data`. OpenSSL 3's one-shot SHA256() fetches the algorithm and allocates a
// context on every call (perf: most of libcrypto's share of a request with a relay key); this
// fetches once and keeps a context per thread.
std::array<unsigned char, kSha256Bytes> Sha256(std::string_view data);

// SHA-256 of a relay key, 32 raw bytes: what the store and the snapshot keep instead of the
// key, and what a data plane looks a presented key up by.
std::string RelayKeySha256(std::string_view key);

}  // namespace ccrelay::common
