#include "dataplane/common/secret.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>

namespace ccrelay::common {

namespace {
std::array<unsigned char, SHA256_DIGEST_LENGTH> Digest(std::string_view v) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> out{};
  SHA256(reinterpret_cast<const unsigned char*>(v.data()), v.size(), out.data());
  return out;
}
}  // namespace

std::string FingerprintOf(std::string_view value) {
  if (value.empty()) {
    return "";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  auto d = Digest(value);
  std::string out;
  out.reserve(8);
  for (int i = 0; i < 4; ++i) {
    out.push_back(kHex[d[i] >> 4]);
    out.push_back(kHex[d[i] & 0xf]);
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  auto da = Digest(a);
  auto db = Digest(b);
  return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

Secret::Secret(std::string value) : value_(std::move(value)), fingerprint_(FingerprintOf(value_)) {}

bool Secret::Matches(std::string_view presented) const {
  return ConstantTimeEquals(value_, presented);
}

}  // namespace ccrelay::common
