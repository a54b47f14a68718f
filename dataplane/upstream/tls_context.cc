#include "dataplane/upstream/tls_context.h"

#include <openssl/ssl.h>

#include "dataplane/upstream/tls_context_impl.h"
#include "dataplane/common/str.h"

namespace ccrelay::upstream {

absl::StatusOr<TlsContextSharedPtr> CreateTlsContext(const std::string& ca_file) {
  auto tls = std::make_shared<TlsContext>();
  boost::system::error_code ec;
  tls->ctx.set_options(boost::asio::ssl::context::default_workarounds |
                           boost::asio::ssl::context::no_sslv2 |
                           boost::asio::ssl::context::no_sslv3 |
                           boost::asio::ssl::context::no_tlsv1 |
                           boost::asio::ssl::context::no_tlsv1_1,
                       ec);
  tls->ctx.set_verify_mode(boost::asio::ssl::verify_peer, ec);
  // The system store as a hashed directory is read lazily (fast start); the bundle file is the
  // fallback some systems have without a hashed directory.
  if (SSL_CTX_set_default_verify_dir(tls->ctx.native_handle()) != 1) {
    tls->ctx.set_default_verify_paths(ec);
  }
  if (!ca_file.empty()) {
    tls->ctx.load_verify_file(ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          common::StrCat("ca_file ", ca_file, ": cannot load CA bundle: ", ec.message()));
    }
  }
  // Keep-alive pooling makes resumption rare; keep a small client session cache anyway.
  SSL_CTX_set_session_cache_mode(tls->ctx.native_handle(), SSL_SESS_CACHE_CLIENT);
  return tls;
}

}  // namespace ccrelay::upstream
