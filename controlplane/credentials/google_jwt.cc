#include "controlplane/credentials/google_jwt.h"

#include <vector>

#include "absl/strings/escaping.h"
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "controlplane/credentials/openssl_util.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane::gcp {
namespace {

using common::StrCat;
using credentials::BioPtr;
using credentials::EvpMdCtxPtr;
using credentials::EvpPkeyPtr;

std::string Base64Url(std::string_view bytes) {
  return absl::WebSafeBase64Escape(absl::string_view(bytes.data(), bytes.size()));
}

// Never prompts for a passphrase: an encrypted key fails to load.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

}  // namespace

absl::StatusOr<std::string> BuildServiceAccountJwt(const ServiceAccountKey& key,
                                                   std::string_view audience,
                                                   std::string_view scope, int64_t now_unix_s) {
  const std::string what = StrCat("service account ", key.client_email);
  const std::string_view pem = key.private_key.Reveal();
  ERR_clear_error();
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) {
    return absl::ResourceExhaustedError(
        StrCat(what, ": BIO_new_mem_buf: ", credentials::TakeOpenSslErrors()));
  }
  EvpPkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr));
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(StrCat(what,
                                             ": private_key is not a usable PEM private key (",
                                             credentials::TakeOpenSslErrors(), ")"));
  }
  if (EVP_PKEY_base_id(pkey.get()) != EVP_PKEY_RSA) {
    return absl::InvalidArgumentError(
        StrCat(what, ": private_key is not an RSA key (RS256 needs one)"));
  }

  nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!key.private_key_id.empty()) {
    header["kid"] = key.private_key_id;
  }
  const nlohmann::json claims = {{"iss", key.client_email},
                                 {"scope", std::string(scope)},
                                 {"aud", std::string(audience)},
                                 {"iat", now_unix_s},
                                 {"exp", now_unix_s + kJwtLifetimeSeconds}};
  std::string jwt = StrCat(Base64Url(header.dump()), ".", Base64Url(claims.dump()));

  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t signature_size = 0;
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &signature_size,
                     reinterpret_cast<const unsigned char*>(jwt.data()), jwt.size()) != 1) {
    return absl::InternalError(StrCat(what, ": RS256 signing: ", credentials::TakeOpenSslErrors()));
  }
  std::vector<unsigned char> signature(signature_size);
  if (EVP_DigestSign(ctx.get(), signature.data(), &signature_size,
                     reinterpret_cast<const unsigned char*>(jwt.data()), jwt.size()) != 1) {
    return absl::InternalError(StrCat(what, ": RS256 signing: ", credentials::TakeOpenSslErrors()));
  }
  common::StrAppend(
      &jwt, ".",
      Base64Url(std::string_view(reinterpret_cast<const char*>(signature.data()), signature_size)));
  return jwt;
}

}  // namespace ccrelay::controlplane::gcp
