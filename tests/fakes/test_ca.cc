#include "tests/fakes/test_ca.h"

#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace ccrelay::testing {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::string OpenSslError(const std::string& what) {
  std::string out = what;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    out += ": ";
    out += buf;
  }
  return out;
}

PkeyPtr NewKey() { return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) {
    return false;
  }
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1;
}

// A certificate for `subject_key`, CN `common_name`, signed by issuer_key (self-signed when
// issuer is null).
X509Ptr MakeCert(EVP_PKEY* subject_key, const std::string& common_name, X509* issuer,
                 EVP_PKEY* issuer_key, bool is_ca, const char* san, std::string* error) {
  X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), 2) != 1) {
    *error = OpenSslError("X509_new");
    return nullptr;
  }
  unsigned char serial_bytes[16];
  RAND_bytes(serial_bytes, sizeof(serial_bytes));
  serial_bytes[0] &= 0x7f;
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()));
  BN_free(serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7L * 24 * 3600);
  X509_set_pubkey(cert.get(), subject_key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("cc-relay tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));

  bool ok = true;
  if (is_ca) {
    ok = ok && AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    ok = ok && AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    ok = ok && AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  } else {
    ok = ok && AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    ok = ok && AddExtension(cert.get(), signer, NID_key_usage,
                            "critical,digitalSignature,keyEncipherment");
    ok = ok && AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
    ok = ok && AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
    ok = ok && AddExtension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
    ok = ok && AddExtension(cert.get(), signer, NID_subject_alt_name, san);
  }
  if (!ok) {
    *error = OpenSslError("X509 extension");
    return nullptr;
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) {
    *error = OpenSslError("X509_sign");
    return nullptr;
  }
  return cert;
}

bool WriteCert(const std::string& path, X509* cert) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  return bio != nullptr && PEM_write_bio_X509(bio.get(), cert) == 1;
}

bool WriteKey(const std::string& path, EVP_PKEY* key) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  return bio != nullptr &&
         PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
}

}  // namespace

std::unique_ptr<TestPki> TestPki::Create(std::string* error) {
  std::unique_ptr<TestPki> pki(new TestPki());
  if (pki->dir_.path().empty()) {
    *error = "mkdtemp failed";
    return nullptr;
  }
  PkeyPtr ca_key = NewKey();
  PkeyPtr localhost_key = NewKey();
  PkeyPtr wrong_key = NewKey();
  if (ca_key == nullptr || localhost_key == nullptr || wrong_key == nullptr) {
    *error = OpenSslError("EVP_PKEY_Q_keygen");
    return nullptr;
  }
  X509Ptr ca =
      MakeCert(ca_key.get(), "cc-relay test CA", nullptr, ca_key.get(), true, nullptr, error);
  if (ca == nullptr) {
    return nullptr;
  }
  X509Ptr localhost = MakeCert(localhost_key.get(), "localhost", ca.get(), ca_key.get(), false,
                               "DNS:localhost,IP:127.0.0.1", error);
  X509Ptr wrong = MakeCert(wrong_key.get(), "wrong.example", ca.get(), ca_key.get(), false,
                           "DNS:wrong.example", error);
  if (localhost == nullptr || wrong == nullptr) {
    return nullptr;
  }
  const std::string& dir = pki->dir_.path();
  pki->ca_file_ = dir + "/ca.pem";
  pki->localhost_ = {dir + "/localhost.pem", dir + "/localhost.key"};
  pki->wrong_host_ = {dir + "/wrong.pem", dir + "/wrong.key"};
  if (!WriteCert(pki->ca_file_, ca.get()) ||
      !WriteCert(pki->localhost_.cert_file, localhost.get()) ||
      !WriteKey(pki->localhost_.key_file, localhost_key.get()) ||
      !WriteCert(pki->wrong_host_.cert_file, wrong.get()) ||
      !WriteKey(pki->wrong_host_.key_file, wrong_key.get())) {
    *error = OpenSslError("writing PEM files");
    return nullptr;
  }
  return pki;
}

}  // namespace ccrelay::testing
