#pragma once

#include <boost/asio/ssl/context.hpp>

#include "dataplane/upstream/tls_context.h"

namespace ccrelay::upstream {

struct TlsContext {
  TlsContext() : ctx(boost::asio::ssl::context::tls_client) {}
  boost::asio::ssl::context ctx;
};

}  // namespace ccrelay::upstream
