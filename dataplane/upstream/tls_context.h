#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace ccrelay::upstream {

// An OpenSSL client context: peer verification against the system CA store (plus an optional
// extra PEM bundle for a private endpoint), TLS 1.2 minimum. Defined in tls_context_impl.h so
// that only I/O code sees Asio.
struct TlsContext;
using TlsContextSharedPtr = std::shared_ptr<TlsContext>;

absl::StatusOr<TlsContextSharedPtr> CreateTlsContext(const std::string& ca_file);

}  // namespace ccrelay::upstream
