#pragma once

#include <memory>
#include <string>

#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {

struct CertFiles {
  std::string cert_file;  // PEM certificate
  std::string key_file;   // PEM private key
};

// A throw-away PKI made at test time with the OpenSSL C API: a CA, a server certificate for
// "localhost" (SAN DNS:localhost, IP:127.0.0.1) and one for "wrong.example" (to test host-name
// verification), all signed by the CA, written as PEM files into a temp dir. The leaf
// certificates are also valid client certificates (extended key usage clientAuth, for mTLS).
class TestPki {
 public:
  // nullptr if OpenSSL failed (the reason is in `error`).
  static std::unique_ptr<TestPki> Create(std::string* error);

  const std::string& ca_file() const { return ca_file_; }
  const CertFiles& localhost() const { return localhost_; }
  const CertFiles& wrong_host() const { return wrong_host_; }

 private:
  TestPki() = default;

  TempDir dir_;
  std::string ca_file_;
  CertFiles localhost_;
  CertFiles wrong_host_;
};

}  // namespace ccrelay::testing
