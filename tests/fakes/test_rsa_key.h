#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ccrelay::testing {

// An RSA key pair made at test time (OpenSSL EVP_PKEY_keygen), as PEM text: the private key in
// PKCS#8 ("BEGIN PRIVATE KEY", what Google's service-account files hold) and the public key as
// SubjectPublicKeyInfo ("BEGIN PUBLIC KEY").
struct TestRsaKey {
  std::string private_pem;
  std::string public_pem;
};

// nullopt (and *error) if OpenSSL failed.
std::optional<TestRsaKey> GenerateTestRsaKey(std::string* error, int bits = 2048);

// Key pair number `index` (0..3) of this process, made on first use (a 2048-bit key takes a
// moment); a failure is a test failure and an empty key.
const TestRsaKey& SharedTestRsaKey(int index = 0);

// The same private key in another PEM form.
enum class PemForm {
  kPkcs1,           // "BEGIN RSA PRIVATE KEY"
  kEncryptedPkcs8,  // "BEGIN ENCRYPTED PRIVATE KEY", AES-128-CBC, passphrase "test-passphrase"
};
std::string RewritePrivateKeyPem(const std::string& private_pem, PemForm form);

// A PKCS#8 PEM private key that is not RSA (EC P-256).
std::string EcPrivateKeyPem();

// Checks a JWT's RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256 over "header.claims") with a
// PEM public key. False (and *error, when given) if it does not verify or cannot be checked.
bool VerifyRs256Jwt(std::string_view jwt, const std::string& public_pem,
                    std::string* error = nullptr);

}  // namespace ccrelay::testing
