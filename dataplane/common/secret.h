#pragma once

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

}  // namespace ccrelay::common
