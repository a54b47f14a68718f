#include "tests/fakes/test_rsa_key.h"

#include <mutex>
#include <utility>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "controlplane/credentials/openssl_util.h"

namespace ccrelay::testing {
namespace {

using controlplane::credentials::BioPtr;
using controlplane::credentials::EvpMdCtxPtr;
using controlplane::credentials::EvpPkeyCtxPtr;
using controlplane::credentials::EvpPkeyPtr;

std::string OpenSslError(const std::string& what) {
  return what + ": " + controlplane::credentials::TakeOpenSslErrors();
}

// Everything written to a memory BIO.
std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<size_t>(size)) : std::string();
}

void SetError(std::string* error, const std::string& message) {
  if (error != nullptr) {
    *error = message;
  }
}

}  // namespace

std::optional<TestRsaKey> GenerateTestRsaKey(std::string* error, int bits) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nullptr));
  EVP_PKEY* raw = nullptr;
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) <= 0 ||
      EVP_PKEY_keygen(ctx.get(), &raw) <= 0) {
    SetError(error, OpenSslError("RSA key generation"));
    return std::nullopt;
  }
  EvpPkeyPtr key(raw);
  BioPtr private_bio(BIO_new(BIO_s_mem()));
  BioPtr public_bio(BIO_new(BIO_s_mem()));
  if (private_bio == nullptr || public_bio == nullptr ||
      PEM_write_bio_PKCS8PrivateKey(private_bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                    nullptr) != 1 ||
      PEM_write_bio_PUBKEY(public_bio.get(), key.get()) != 1) {
    SetError(error, OpenSslError("writing PEM"));
    return std::nullopt;
  }
  return TestRsaKey{BioText(private_bio.get()), BioText(public_bio.get())};
}

const TestRsaKey& SharedTestRsaKey(int index) {
  static constexpr int kKeys = 4;
  static std::once_flag once[kKeys];
  static TestRsaKey keys[kKeys];
  if (index < 0 || index >= kKeys) {
    ADD_FAILURE() << "SharedTestRsaKey(" << index << "): only " << kKeys << " keys";
    return keys[0];
  }
  std::call_once(once[index], [index] {
    std::string error;
    std::optional<TestRsaKey> key = GenerateTestRsaKey(&error);
    if (!key.has_value()) {
      ADD_FAILURE() << error;
      return;
    }
    keys[index] = *std::move(key);
  });
  return keys[index];
}

std::string RewritePrivateKeyPem(const std::string& private_pem, PemForm form) {
  BioPtr in(BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size())));
  EvpPkeyPtr key(in == nullptr ? nullptr
                               : PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
  BioPtr out(BIO_new(BIO_s_mem()));
  if (key == nullptr || out == nullptr) {
    ADD_FAILURE() << OpenSslError("reading the test key");
    return "";
  }
  static char passphrase[] = "test-passphrase";
  const int written =
      form == PemForm::kPkcs1
          ? PEM_write_bio_PrivateKey_traditional(out.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                                 nullptr)
          : PEM_write_bio_PKCS8PrivateKey(out.get(), key.get(), EVP_aes_128_cbc(), passphrase,
                                          sizeof(passphrase) - 1, nullptr, nullptr);
  if (written != 1) {
    ADD_FAILURE() << OpenSslError("writing the test key");
    return "";
  }
  return BioText(out.get());
}

std::string EcPrivateKeyPem() {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  BioPtr out(BIO_new(BIO_s_mem()));
  if (key == nullptr || out == nullptr ||
      PEM_write_bio_PKCS8PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    ADD_FAILURE() << OpenSslError("EC test key");
    return "";
  }
  return BioText(out.get());
}

bool VerifyRs256Jwt(std::string_view jwt, const std::string& public_pem, std::string* error) {
  const size_t last_dot = jwt.rfind('.');
  if (last_dot == std::string_view::npos || jwt.find('.') == last_dot) {
    SetError(error, "not a JWT (want three segments)");
    return false;
  }
  const std::string_view signed_part = jwt.substr(0, last_dot);
  const std::string_view encoded = jwt.substr(last_dot + 1);
  std::string signature;
  if (!absl::WebSafeBase64Unescape(absl::string_view(encoded.data(), encoded.size()), &signature)) {
    SetError(error, "signature is not base64url");
    return false;
  }
  BioPtr bio(BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size())));
  EvpPkeyPtr key(bio == nullptr ? nullptr
                                : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    SetError(error, OpenSslError("reading the public key"));
    return false;
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) {
    SetError(error, OpenSslError("EVP_DigestVerifyInit"));
    return false;
  }
  const int verified = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size());
  if (verified != 1) {
    SetError(error, OpenSslError("RS256 signature does not verify"));
    return false;
  }
  return true;
}

}  // namespace ccrelay::testing
