#pragma once

#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>

namespace ccrelay::controlplane::credentials {

// Owners of OpenSSL objects (freed with their *_free function).
struct OpenSslFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OpenSslFree>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslFree>;
using BioPtr = std::unique_ptr<BIO, OpenSslFree>;

// The reasons OpenSSL queued for this thread's last failure ("no start line; bad decrypt"),
// emptying the queue; "unknown error" when it was empty. Reasons name the step, never data.
inline std::string TakeOpenSslErrors() {
  std::string out;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    const char* reason = ERR_reason_error_string(code);
    out += out.empty() ? "" : "; ";
    out += reason != nullptr ? reason : "error " + std::to_string(code);
  }
  return out.empty() ? "unknown error" : out;
}

}  // namespace ccrelay::controlplane::credentials
