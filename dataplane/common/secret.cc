#include "dataplane/common/secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>
#include <memory>

namespace ccrelay::common {

static_assert(kSha256Bytes == SHA256_DIGEST_LENGTH);

std::array<unsigned char, kSha256Bytes> Sha256(std::string_view data) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(
      EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::array<unsigned char, kSha256Bytes> out{};
  unsigned int len = 0;
  if (md != nullptr && ctx != nullptr && EVP_DigestInit_ex2(ctx.get(), md, nullptr) == 1 &&
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) == 1 && len == kSha256Bytes) {
    return out;
  }
  // Not expected (the default provider always has SHA-256): the one-shot path.
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

std::string RelayKeySha256(std::string_view key) {
  const auto digest = Sha256(key);
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

std::string FingerprintOf(std::string_view value) {
  if (value.empty()) {
    return "";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  const auto d = Sha256(value);
  std::string out;
  out.reserve(8);
  for (int i = 0; i < 4; ++i) {
    out.push_back(kHex[d[i] >> 4]);
    out.push_back(kHex[d[i] & 0xf]);
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  const auto da = Sha256(a);
  const auto db = Sha256(b);
  return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

Secret::Secret(std::string value) : value_(std::move(value)), fingerprint_(FingerprintOf(value_)) {}

bool Secret::Matches(std::string_view presented) const {
  return ConstantTimeEquals(value_, presented);
}

}  // namespace ccrelay::common
